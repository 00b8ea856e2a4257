// zbuild-cc's operator new/delete (cc_alloc.cc), linked into this test binary: everything here,
// Catch2 included, allocates through it.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

struct alignas(64) Wide {
  char bytes[64];
};

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

}  // namespace

TEST_CASE("blocks of every class hold what is written into them, and a freed block is handed out again") {
  std::vector<std::pair<char*, size_t>> held;
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{500}, size_t{512}, size_t{513},
                   size_t{1024}, size_t{1025}, size_t{40000}, size_t{65536}, size_t{65537}, size_t{1} << 20}) {
    for (int k = 0; k < 3; ++k) {
      char* p = static_cast<char*>(::operator new(n));
      REQUIRE(aligned(p, 16));
      std::memset(p, 'a' + k, n);
      held.emplace_back(p, n);
    }
  }
  // Nothing overlaps: each block still holds its own bytes.
  for (size_t i = 0; i < held.size(); ++i) {
    char want = static_cast<char>('a' + i % 3);
    for (size_t j = 0; j < held[i].second; j += 97) REQUIRE(held[i].first[j] == want);
    if (held[i].second) REQUIRE(held[i].first[held[i].second - 1] == want);
  }
  char* small = held[6].first;   // a 15-byte block
  ::operator delete(small, 15);
  char* again = static_cast<char*>(::operator new(9));   // the same 16-byte class
  CHECK(again == small);
  held[6].first = again;
  // 17 and 30 bytes are one class here (glibc's malloc would put them in two): the operators in
  // use are cc_alloc.cc's.
  char* seventeen = held[12].first;
  ::operator delete(seventeen, 17);
  char* thirty = static_cast<char*>(::operator new(30));
  CHECK(thirty == seventeen);
  held[12].first = thirty;
  for (auto& [p, n] : held) ::operator delete(p);
}

TEST_CASE("over-aligned, array and nothrow forms") {
  auto w = std::make_unique<Wide[]>(5);
  CHECK(aligned(w.get(), 64));
  auto* one = new Wide;
  CHECK(aligned(one, 64));
  delete one;
  int* arr = new (std::nothrow) int[1000];
  REQUIRE(arr);
  arr[999] = 7;
  CHECK(arr[999] == 7);
  delete[] arr;
  std::vector<std::string> v;
  for (int i = 0; i < 20000; ++i) v.push_back(std::string(static_cast<size_t>(i % 300), 'x') + std::to_string(i));
  CHECK(v[19999].substr(v[19999].size() - 5) == "19999");
  CHECK(v[12345].size() == 12345 % 300 + 5);
}

TEST_CASE("after a thread is started, allocations from two threads do not corrupt each other") {
  auto churn = [](int seed) {
    std::map<int, std::string> m;
    for (int i = 0; i < 20000; ++i) {
      m[i % 700] = std::string(static_cast<size_t>((i * seed) % 200), static_cast<char>('a' + seed));
      if (i % 3 == 0) m.erase((i / 3) % 700);
    }
    for (auto& [k, s] : m)
      for (char ch : s)
        if (ch != 'a' + seed) return false;
    return true;
  };
  bool other = false;
  std::thread t([&] { other = churn(2); });
  bool mine = churn(3);
  t.join();
  CHECK(mine);
  CHECK(other);
}
