#include "client/report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/report_assets.h"   // generated: kReportHtml, kReportJs
#include "common/fs.h"

namespace zbuild::client {

namespace {

// The page (report.html: styles, a placeholder for the data and one for the script) and the
// script that draws it (report.js), embedded at build time (embed.py). The data goes into a
// <script type="application/json"> with every '<' escaped, so no task name can end it.
std::string page(const std::string& data) {
  std::string html = kReportHtml;
  auto at = html.find("@DATA@");
  html.replace(at, 6, data);
  at = html.find("@SCRIPT@", at + data.size());
  html.replace(at, 8, kReportJs);
  return html;
}

// JSON for an inline <script>: '<' only occurs inside strings, where \u003c means the same.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

}  // namespace

Result<std::string> render_report(const std::string& trace_json) {
  auto doc = nlohmann::json::parse(trace_json, nullptr, false);
  if (doc.is_discarded()) return make_error("not JSON");
  if (!doc.is_object() || !doc.contains("zbuild") || !doc["zbuild"].is_object()) {
    return make_error("no \"zbuild\" section: not a trace written by `zbuild submit --trace`");
  }
  const auto& z = doc["zbuild"];
  if (!z.contains("version") || z["version"] != 1) return make_error("unsupported zbuild trace version");
  if (!z.contains("tasks") || !z["tasks"].is_array()) return make_error("no task list in the zbuild section");
  std::string data = script_safe(z.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return page(data);
}

int run_report(const std::string& trace_path, const std::string& out_path) {
  auto text = read_file(trace_path);
  if (!text.ok()) {
    std::fprintf(stderr, "zbuild report: %s\n", text.error().message.c_str());
    return 1;
  }
  auto html = render_report(text.value());
  if (!html.ok()) {
    std::fprintf(stderr, "zbuild report: %s: %s\n", trace_path.c_str(), html.error().message.c_str());
    return 1;
  }
  auto w = write_file_atomic(out_path, html.value());
  if (!w.ok()) {
    std::fprintf(stderr, "zbuild report: %s\n", w.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace zbuild::client
