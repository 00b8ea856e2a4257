"""A multi-host test bed on one machine (stdlib only; run as root).

A TestBed makes a Linux bridge (`zbb<tag>`, tag = this process's pid and a letter) with a free
10.x.y.0/24 subnet; the bridge itself holds 10.x.y.1, so the root namespace (where tests and
clients run) is one more host on it. Each host added with `add_host` is

* a named network namespace (`zbt<tag>-<name>`) whose `eth0` is one end of a veth pair; the other
  end (`zbv<tag><i>`) is a port of the bridge. Loopback is up; there is no default route, so a
  host reaches the subnet only, over the bridge;
* a private mount namespace (propagation private) in which /usr is replaced per profile by an
  overlay (lower: the real /usr, upper: a tmpfs of whiteouts and symlinks), and /sys is sysfs of
  the host's network namespace. Everything else in the file system is the machine's own (build
  folder, /tmp, a test's temp dir). Whatever runs there, bubblewrap included
  (`bwrap --ro-bind /usr /usr`), sees the altered /usr.

Both namespaces are held by one "holder" process per host (this file run as `_holder`), which
blocks reading its stdin: it ends when the bed closes the pipe, or when the bed's process dies.
Programs enter a host with `nsenter --target HOLDER --mount --net --wd=CWD` (no fork: the pid
the caller gets is the program's own).

Profiles of /usr (`usr=`):
  same        unchanged.
  nocompiler  no C/C++ compiler, assembler or linker in /usr/bin (gcc*, g++*, cc, c++, c89, c99,
              cpp, clang*, lld*, ld, ld.*, as, gcov*, lto-dump*, gfortran*, gnat*, llvm-*, and the
              same names behind x86_64-linux-gnu-), no /usr/lib/gcc, /usr/libexec/gcc,
              /usr/lib/llvm-*, /usr/lib/ccache. Kept: ldd and ld.so (the loader, not a linker),
              ccache, c++filt, cppcheck. /usr/local is untouched.
  gcc11       the GCC 11 programs only: gcc, g++, cc, c++, cpp (and gcc-ar, ..., the
              x86_64-linux-gnu- names) are links to the -11 programs; the other GCC versions'
              programs, /usr/lib/gcc/x86_64-linux-gnu/<v>, /usr/libexec/gcc/.../<v>,
              /usr/include/c++/<v> and /usr/include/x86_64-linux-gnu/c++/<v> are gone; no clang,
              no /usr/lib/llvm-*. Binutils (as, ld) stay: gcc needs them.
  clang16     no GCC driver (gcc*, g++*, cc, c++, cpp: absent) and no GCC compiler proper (the
              executables in /usr/lib/gcc/x86_64-linux-gnu/<v>: cc1, cc1plus, collect2, ...);
              clang, clang++, clang-cpp are links to the -16 programs, the other clang and llvm
              versions are gone. Kept, because clang-16 needs them to compile and link C++: the
              newest GCC's runtime files and libstdc++ headers (crtbegin.o, libgcc, libstdc++
              in /usr/lib/gcc/x86_64-linux-gnu/<newest>, /usr/include/c++/<newest>) and binutils.

Links (`delay_ms`, `rate_mbit`): netem on both ends of the host's veth, so each direction of
the host's link adds `delay_ms` and is limited to `rate_mbit`. The round trip between a host with
delay D and an undelayed host (or the root namespace) grows by 2*D; between two hosts with
delays D1 and D2, by 2*(D1+D2).

Clean-up: `close()` (or leaving `with TestBed() as bed:`) stops every process the bed started
and every process still in a host's network namespace, by pid; ends the holders (their mount
namespaces, and so their mounts, go with them); deletes the namespaces, veths, the bridge and the
state folder /run/zbuild-testbed/<tag>. It also runs at exit and, unless the program handles
SIGTERM itself, on SIGTERM (then the process dies of the signal as before). A bed whose process
died without closing (SIGKILL) is swept by the next TestBed made on the machine (its state file
names its owner), or by `tools/testbed clean`.
"""

import atexit
import errno
import fcntl
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref

STATE_ROOT = "/run/zbuild-testbed"
PROFILES = ("same", "nocompiler", "gcc11", "clang16")
USR = "/usr"
TRIPLET = "x86_64-linux-gnu"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class TestBedError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# /usr profiles: what to hide (whiteouts) and which links to add, relative to /usr.

_GCC_TOOL = re.compile(r"^(gcc|g\+\+|cpp|gcc-ar|gcc-nm|gcc-ranlib|gcov|gcov-dump|gcov-tool|lto-dump|"
                       r"gfortran|gccgo|gdc|gnat[a-z]*)(-(\d+))?$")
_GENERIC = re.compile(r"^(cc|c\+\+|c89|c99|c89-gcc|c99-gcc)$")
_CLANG = re.compile(r"^(clang[a-z0-9+._-]*?|clangd|lld|lld-link|ld\.lld|ld64\.lld|wasm-ld|llvm-[a-zA-Z0-9._-]*?)"
                    r"(-(\d+))?(\.py)?$")
_BINUTILS = re.compile(r"^(as|ld|ld\.bfd|ld\.gold|gold|dwp)$")


def _classify(name):
    """(family, base, version) of a /usr/bin entry, or None when it is not toolchain. family:
    gcc, generic, clang or binutils; version: the -N suffix as an int, or None."""
    plain = name[len(TRIPLET) + 1:] if name.startswith(TRIPLET + "-") else name
    m = _GCC_TOOL.match(plain)
    if m:
        return "gcc", m.group(1), int(m.group(3)) if m.group(3) else None
    if _GENERIC.match(plain):
        return "generic", plain, None
    if plain.startswith(("clang", "lld", "ld.lld", "ld64.lld", "llvm-", "wasm-ld")):
        m = _CLANG.match(plain)
        return "clang", (m.group(1) if m else plain), (int(m.group(3)) if m and m.group(3) else None)
    if _BINUTILS.match(plain):
        return "binutils", plain, None
    return None


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _gcc_versions(usr):
    return sorted(int(v) for v in _listdir(os.path.join(usr, "lib", "gcc", TRIPLET)) if v.isdigit())


def _keep_one_version(names, present, family_kept, keep, hide, links, generic):
    """Adds to `hide` and `links`: of the compilers in /usr/bin (`names`), binutils and version
    `keep` of `family_kept` stay, an unversioned name of that family links to its `-keep`
    program, a generic name in `generic` links to its value (None: kept as it is), every other
    compiler goes."""
    for n in names:
        c = _classify(n)
        if not c:
            continue
        family, base, ver = c
        if family == "binutils" or (family == family_kept and ver == keep):
            continue
        if family == family_kept and ver is None and f"{n}-{keep}" in present:
            links[f"bin/{n}"] = f"{n}-{keep}"
        elif family == "generic" and base in generic:
            if generic[base]:
                links[f"bin/{n}"] = generic[base]
        else:
            hide.append(f"bin/{n}")


def usr_plan(profile, usr=USR):
    """{"hide": [paths relative to /usr], "links": {path relative to /usr: link target}} for a
    profile; computed from the machine's /usr (pass `usr` to plan against another tree)."""
    if profile not in PROFILES:
        raise TestBedError(f"unknown usr profile {profile!r} (one of {', '.join(PROFILES)})")
    hide, links = [], {}
    if profile == "same":
        return {"hide": hide, "links": links}
    bindir = os.path.join(usr, "bin")
    names = _listdir(bindir)
    present = set(names)
    gccv = _gcc_versions(usr)
    llvm = [d for d in _listdir(os.path.join(usr, "lib")) if d.startswith("llvm-")]
    if profile == "nocompiler":
        for n in names:
            if _classify(n):
                hide.append(f"bin/{n}")
        hide += ["lib/gcc", "libexec/gcc", "lib/ccache"] + [f"lib/{d}" for d in llvm]
    elif profile == "gcc11":
        keep = 11
        if f"g++-{keep}" not in present:
            raise TestBedError(f"profile gcc11 needs {bindir}/g++-11 (apt-get install g++-11)")
        generic = {"cc": "gcc-11", "c++": "g++-11", "c89-gcc": None, "c99-gcc": None}   # c89/c99: run `gcc`
        _keep_one_version(names, present, "gcc", keep, hide, links, generic)
        for v in gccv:
            if v != keep:
                hide += [f"lib/gcc/{TRIPLET}/{v}", f"libexec/gcc/{TRIPLET}/{v}", f"include/c++/{v}",
                         f"include/{TRIPLET}/c++/{v}"]
        hide += ["lib/ccache"] + [f"lib/{d}" for d in llvm]
    elif profile == "clang16":
        keep = 16
        if f"clang-{keep}" not in present:
            raise TestBedError(f"profile clang16 needs {bindir}/clang-16 (apt-get install clang-16)")
        _keep_one_version(names, present, "clang", keep, hide, links, {})
        newest = gccv[-1] if gccv else None
        for v in gccv:
            if v != newest:
                hide += [f"lib/gcc/{TRIPLET}/{v}", f"include/c++/{v}", f"include/{TRIPLET}/c++/{v}"]
        if newest is not None:   # the GCC compiler proper goes; its runtime files stay for clang
            d = os.path.join(usr, "lib", "gcc", TRIPLET, str(newest))
            for f in _listdir(d):
                p = os.path.join(d, f)
                if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.X_OK) and ".so" not in f:
                    hide.append(f"lib/gcc/{TRIPLET}/{newest}/{f}")
        hide += ["libexec/gcc", "lib/ccache"] + [f"lib/{d}" for d in llvm if d != f"llvm-{keep}"]
    hide = [h for h in hide if os.path.lexists(os.path.join(usr, h))]
    return {"hide": hide, "links": links}


# ---------------------------------------------------------------------------------------------
# Small helpers.

def _run(argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise TestBedError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _start_time(pid):
    """The start time of process `pid` in clock ticks (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid, start=None):
    """True while `pid` runs (not a zombie) and, when `start` is given, is the same process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    if rest[0] == "Z":
        return False
    return start is None or int(rest[19]) == start


def wait_until(cond, timeout, what="condition", interval=0.05):
    """Polls `cond()` until it is true (returns its value) or `timeout` seconds pass (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestBedError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _wait_ready(p, what, timeout):
    """Waits (with a deadline) for the line "ready" from helper process p (text stdout)."""
    deadline = time.monotonic() + timeout
    out = ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestBedError(f"{what} not ready within {timeout}s: {out}")
        r, _, _ = select.select([p.stdout], [], [], left)
        if not r:
            continue
        line = p.stdout.readline()
        if not line:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            raise TestBedError(f"{what} exited ({p.returncode}): {out}")
        out += line
        if line.strip() == "ready":
            return


def _kill_pids(pids, timeout=10):
    """SIGTERM to each pid, then SIGKILL to those still running after `timeout` s. Pids are
    (pid, start_time) pairs so a reused pid is never signalled."""
    live = [(p, s) for p, s in pids if _alive(p, s)]
    for p, _ in live:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(_alive(p, s) for p, s in live) and time.monotonic() < deadline:
        time.sleep(0.05)
    for p, s in live:
        if _alive(p, s):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while any(_alive(p, s) for p, s in live) and time.monotonic() < deadline:
        time.sleep(0.05)


def _netns_pids(netns):
    r = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, timeout=30)
    return [(int(p), _start_time(int(p))) for p in r.stdout.split() if p.isdigit()]


def _link_exists(name):
    return os.path.exists(f"/sys/class/net/{name}")


def _used_networks():
    nets = []
    for argv in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        for tok in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)\b", out):
            try:
                nets.append(ipaddress.ip_network(tok, strict=False))
            except ValueError:
                pass
    return nets


def _pick_subnet(seed):
    used = _used_networks()
    n = 50 * 256
    for i in range(n):
        k = (seed + i) % n
        net = ipaddress.ip_network(f"10.{200 + k // 256}.{k % 256}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise TestBedError("no free 10.200-249.x.0/24 subnet")


def _save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def load_states():
    """The state of every bed on this machine: {tag: state dict} (from /run/zbuild-testbed)."""
    out = {}
    for tag in _listdir(STATE_ROOT):
        try:
            with open(os.path.join(STATE_ROOT, tag, "state.json")) as f:
                out[tag] = json.load(f)
        except (OSError, ValueError):
            pass
    return out


def teardown_state(state):
    """Removes what a bed's state names: processes in its hosts, holders, namespaces, veths,
    the bridge, its state folder. Returns a list of problems (empty when all went)."""
    problems = []
    hosts = state.get("hosts", {})
    for h in hosts.values():
        if os.path.exists(f"/run/netns/{h['netns']}"):
            _kill_pids(_netns_pids(h["netns"]))
    _kill_pids([(h[k + "_pid"], h.get(k + "_start")) for h in hosts.values() for k in ("holder", "link")
                if h.get(k + "_pid")])
    for h in hosts.values():
        if os.path.exists(f"/run/netns/{h['netns']}"):
            r = _run(["ip", "netns", "del", h["netns"]], check=False)
            if r.returncode != 0:
                problems.append(f"ip netns del {h['netns']}: {r.stderr.strip()}")
        if _link_exists(h["veth"]):
            _run(["ip", "link", "del", h["veth"]], check=False)
    br = state.get("bridge")
    if br and _link_exists(br):
        r = _run(["ip", "link", "del", br], check=False)
        if r.returncode != 0:
            problems.append(f"ip link del {br}: {r.stderr.strip()}")
    for h in hosts.values():
        if _link_exists(h["veth"]):
            problems.append(f"veth {h['veth']} still there")
    shutil.rmtree(os.path.join(STATE_ROOT, state["tag"]), ignore_errors=True)
    return problems


def sweep_stale():
    """Tears down beds whose owner process is gone (a test killed before it could close)."""
    for tag, st in load_states().items():
        if not _alive(st.get("owner_pid", 0), st.get("owner_start")):
            teardown_state(st)


def clean_stale():
    """sweep_stale() under the lock beds are made with (for tools/testbed clean)."""
    os.makedirs(STATE_ROOT, exist_ok=True)
    with open(os.path.join(STATE_ROOT, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sweep_stale()


# ---------------------------------------------------------------------------------------------

class Host:
    """One host of a bed: `addr` (its address on the bridge), `popen`, `run`, `wrap`."""

    def __init__(self, bed, name, index, addr, profile, delay_ms, rate_mbit):
        self.bed = bed
        self.name = name
        self.index = index
        self.addr = addr
        self.profile = profile
        self.delay_ms = delay_ms
        self.rate_mbit = rate_mbit
        self.netns = f"zbt{bed.tag}-{name}"
        self.veth = f"zbv{bed.tag}{index}"
        self.holder = None
        self.holder_start = None
        self.link = None          # the delay line process, when the kernel has no netem
        self.link_start = None
        self.dir = os.path.join(bed.dir, name)

    def wrap(self, cwd=None):
        """The command prefix that runs a program in this host (its network and mount
        namespaces) in `cwd` (default: the caller's), as the same process (nsenter does not fork
        here, so the pid is the program's)."""
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--net", f"--wd={cwd or os.getcwd()}", "--"]

    def popen(self, argv, **kw):
        """subprocess.Popen of argv in this host; the bed stops it (by pid) when it closes."""
        p = subprocess.Popen([*self.wrap(kw.get("cwd")), *argv], **kw)
        self.bed._track(p)
        return p

    def run(self, argv, timeout=120, **kw):
        """subprocess.run of argv in this host (text output captured unless told otherwise)."""
        kw.setdefault("capture_output", not ("stdout" in kw or "stderr" in kw))
        kw.setdefault("text", True)
        return subprocess.run([*self.wrap(kw.get("cwd")), *argv], timeout=timeout, **kw)

    def state(self):
        return {"name": self.name, "addr": self.addr, "netns": self.netns, "veth": self.veth,
                "profile": self.profile, "delay_ms": self.delay_ms, "rate_mbit": self.rate_mbit,
                "holder_pid": self.holder.pid if self.holder else None, "holder_start": self.holder_start,
                "link_pid": self.link.pid if self.link else None, "link_start": self.link_start,
                "shaping": ("netem" if self.bed.netem else "delay-line") if (self.delay_ms or self.rate_mbit) else None}

    def __repr__(self):
        return f"Host({self.name} {self.addr} usr={self.profile})"


_open_beds = weakref.WeakSet()


def _on_sigterm(sig, _frame):
    """SIGTERM (meson's test timeout, a CI stop) while beds are open: close them, then die of
    the signal as before."""
    for bed in list(_open_beds):
        try:
            bed.close()
        except Exception:
            pass
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def _watch_sigterm():
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


class TestBed:
    """A bridge and hosts on it; see the module's doc. Use as a context manager or close()."""

    _seq = 0

    def __init__(self, label="test"):
        if os.geteuid() != 0:
            raise TestBedError("the test bed needs root (network and mount namespaces)")
        for tool in ("ip", "nsenter", "unshare", "tc", "mount"):
            if not shutil.which(tool):
                raise TestBedError(f"the test bed needs {tool} (iproute2, util-linux)")
        os.makedirs(STATE_ROOT, exist_ok=True)
        TestBed._seq += 1
        self.tag = f"{os.getpid()}{chr(ord('a') + (TestBed._seq - 1) % 26)}"
        self.bridge = f"zbb{self.tag}"
        self.dir = os.path.join(STATE_ROOT, self.tag)
        self.hosts = {}
        self.procs = []
        self.closed = False
        self.netem = False
        self.label = label
        with open(os.path.join(STATE_ROOT, "lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sweep_stale()
            os.makedirs(self.dir, exist_ok=True)
            self.subnet = _pick_subnet(os.getpid() * 7 + TestBed._seq)
            base = self.subnet.network_address
            self.gateway = str(base + 1)
            self._save()   # before anything exists, so a crash from here on is swept
            atexit.register(self.close)
            _open_beds.add(self)
            _watch_sigterm()
            try:
                _run(["ip", "link", "add", self.bridge, "type", "bridge"])
                # Bridged frames skip iptables (br_netfilter may be loaded for containers).
                _run(["ip", "link", "set", self.bridge, "type", "bridge", "nf_call_iptables", "0"], check=False)
                _run(["ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge])
                _run(["ip", "link", "set", self.bridge, "up"])
                self.netem = _run(["tc", "qdisc", "add", "dev", self.bridge, "root", "netem", "delay", "0ms"],
                                  check=False).returncode == 0
                if self.netem:
                    _run(["tc", "qdisc", "del", "dev", self.bridge, "root"], check=False)
            except BaseException:
                self.close()
                raise

    # -- state -----------------------------------------------------------------------------
    def _state(self):
        return {"tag": self.tag, "label": self.label, "owner_pid": os.getpid(), "owner_start": _start_time(os.getpid()),
                "bridge": self.bridge, "subnet": str(self.subnet), "gateway": self.gateway,
                "hosts": {n: h.state() for n, h in self.hosts.items()}}

    def _save(self):
        _save(os.path.join(self.dir, "state.json"), self._state())

    def _track(self, p):
        self.procs.append((p, _start_time(p.pid)))

    # -- hosts -----------------------------------------------------------------------------
    def add_host(self, name, usr="same", delay_ms=0, rate_mbit=None, timeout=30):
        """Adds host `name` (a network namespace on the bridge with the next address, and a
        mount namespace with /usr per profile `usr`); returns the Host when it is ready."""
        if self.closed:
            raise TestBedError("bed is closed")
        if not _NAME_RE.match(name) or name in self.hosts:
            raise TestBedError(f"bad or duplicate host name {name!r} ([a-z][a-z0-9_-]{{0,31}})")
        index = len(self.hosts) + 1
        addr = str(self.subnet.network_address + 1 + index)
        if ipaddress.ip_address(addr) not in self.subnet or addr == str(self.subnet.broadcast_address):
            raise TestBedError("subnet full")
        plan = usr_plan(usr)
        h = Host(self, name, index, addr, usr, delay_ms, rate_mbit)
        self.hosts[name] = h
        self._save()
        try:
            self._make_net(h)
            self._start_holder(h, plan, timeout)
            self._save()
        except BaseException:
            self._save()
            raise
        return h

    def _make_net(self, h):
        peer = f"zbp{self.tag}{h.index}"
        _run(["ip", "netns", "add", h.netns])
        shaped = bool(h.delay_ms or h.rate_mbit)
        if shaped and not self.netem:
            # No netem in this kernel: the link is a pair of TAP devices joined by a delay line
            # (this file run as `_link`), which holds every frame delay_ms and paces it at
            # rate_mbit, in each direction. The TAPs go when the delay line ends.
            spec = json.dumps({"a": peer, "b": h.veth, "delay_ms": h.delay_ms, "rate_mbit": h.rate_mbit})
            h.link = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_link", spec],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
            h.link_start = _start_time(h.link.pid)
            self._save()
            _wait_ready(h.link, f"host {h.name}: delay line", 30)
        else:
            _run(["ip", "link", "add", h.veth, "type", "veth", "peer", "name", peer])
        _run(["ip", "link", "set", peer, "netns", h.netns])
        _run(["ip", "-n", h.netns, "link", "set", peer, "name", "eth0"])
        _run(["ip", "-n", h.netns, "addr", "add", f"{h.addr}/{self.subnet.prefixlen}", "dev", "eth0"])
        _run(["ip", "-n", h.netns, "link", "set", "eth0", "up"])
        _run(["ip", "-n", h.netns, "link", "set", "lo", "up"])
        _run(["ip", "link", "set", h.veth, "master", self.bridge])
        _run(["ip", "link", "set", h.veth, "up"])
        if shaped and self.netem:
            netem = ["netem"]
            if h.delay_ms:
                netem += ["delay", f"{h.delay_ms}ms"]
            if h.rate_mbit:
                netem += ["rate", f"{h.rate_mbit}mbit"]
            netem += ["limit", "100000"]
            _run(["tc", "qdisc", "add", "dev", h.veth, "root", *netem])                 # into the host
            _run(["tc", "-n", h.netns, "qdisc", "add", "dev", "eth0", "root", *netem])  # out of it

    def _start_holder(self, h, plan, timeout):
        os.makedirs(h.dir, exist_ok=True)
        spec = json.dumps({"plan": plan, "scratch": os.path.join(h.dir, "usr-overlay")})
        argv = ["nsenter", f"--net=/run/netns/{h.netns}", "--", "unshare", "--mount", "--propagation", "private", "--",
                sys.executable, os.path.abspath(__file__), "_holder", spec]
        h.holder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
        h.holder_start = _start_time(h.holder.pid)
        self._save()
        _wait_ready(h.holder, f"host {h.name}: holder", timeout)

    # -- clean-up --------------------------------------------------------------------------
    def close(self):
        """Stops everything the bed started and removes its namespaces, veths and bridge.
        Safe to call twice. Raises TestBedError when something could not be removed."""
        if self.closed:
            return
        self.closed = True
        _open_beds.discard(self)
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
        live = []
        for p, start in self.procs:
            if p.poll() is None:
                live.append((p.pid, start))
        _kill_pids(live)
        for p, _ in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for h in self.hosts.values():   # holders and delay lines end when their stdin closes
            for p in (h.holder, h.link):
                if p and p.poll() is None:
                    try:
                        p.stdin.close()
                    except OSError:
                        pass
        problems = teardown_state(self._state())
        for h in self.hosts.values():
            for p in (h.holder, h.link):
                if not p:
                    continue
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    problems.append(f"helper of {h.name} (pid {p.pid}) did not end")
                for f in (p.stdin, p.stdout):
                    if f:
                        try:
                            f.close()
                        except OSError:
                            pass
        if problems:
            raise TestBedError("test bed clean-up: " + "; ".join(problems))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"TestBed({self.tag} {self.bridge} {self.subnet} hosts={list(self.hosts)})"


# ---------------------------------------------------------------------------------------------
# The holder: runs inside a host's fresh network and mount namespaces (nsenter + unshare),
# shapes /usr, says "ready", and holds the namespaces until its stdin closes.

def _holder_main(spec_json):
    spec = json.loads(spec_json)
    plan = spec["plan"]

    def mount(*args):
        subprocess.run(["mount", *args], check=True, capture_output=True, text=True)

    # Copies of other beds' /run/netns entries would keep their namespaces alive: drop them.
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f]
    for p in sorted((p for p in points if p == "/run/netns" or p.startswith("/run/netns/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)
    # /sys of this network namespace (as `ip netns exec` does).
    subprocess.run(["umount", "-l", "/sys"], capture_output=True)
    subprocess.run(["mount", "-t", "sysfs", "sysfs", "/sys"], capture_output=True)
    if plan["hide"] or plan["links"]:
        scratch = spec["scratch"]
        os.makedirs(scratch, exist_ok=True)
        mount("-t", "tmpfs", "-o", "mode=0755", "zbuild-testbed", scratch)
        upper, work = os.path.join(scratch, "upper"), os.path.join(scratch, "work")
        os.makedirs(upper)
        os.makedirs(work)

        def parent_dirs(rel):
            # Directories in the upper layer copy the lower ones' mode, so the merged view keeps it.
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = os.path.join(upper, *parts[:i])
                if not os.path.isdir(d):
                    st = os.stat(os.path.join(USR, *parts[:i]))
                    os.mkdir(d)
                    os.chmod(d, st.st_mode & 0o7777)
                    os.chown(d, st.st_uid, st.st_gid)

        for rel in plan["hide"]:
            parent_dirs(rel)
            os.mknod(os.path.join(upper, rel), 0o600 | 0o020000, os.makedev(0, 0))   # a whiteout
        for rel, target in plan["links"].items():
            parent_dirs(rel)
            os.symlink(target, os.path.join(upper, rel))
        mount("-t", "overlay", "zbuild-testbed-usr", "-o", f"lowerdir={USR},upperdir={upper},workdir={work}", USR)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        sys.stdin.read()   # until the bed closes the pipe (or dies)
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------------------------------------
# The delay line (used when the kernel has no netem): two TAP devices, `a` (moved into the host
# as eth0) and `b` (a bridge port); each frame read from one is written to the other once it
# has waited delay_ms and, with rate_mbit, once the frames before it in the same direction have
# been paced out at that rate (netem's model: serialization then propagation delay). A queue of
# more than 10000 frames in one direction drops (a full link). Ends when stdin closes.

def _link_main(spec_json):
    import heapq
    spec = json.loads(spec_json)
    delay = spec["delay_ms"] / 1000.0
    rate = (spec["rate_mbit"] or 0) * 1e6 / 8.0   # bytes per second; 0: unlimited

    def tap(name):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x0002 | 0x1000))   # TUNSETIFF, TAP, NO_PI
        return fd


    a, b = tap(spec["a"]), tap(spec["b"])
    other = {a: b, b: a}
    free_at = {a: 0.0, b: 0.0}   # when the link out towards each fd is free again
    queued = {a: 0, b: 0}
    heap = []   # (due, seq, out_fd, frame)
    seq = 0
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stdin = sys.stdin.fileno()
    while True:
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else None
        r, _, _ = select.select([a, b, stdin], [], [], timeout)
        if stdin in r and not os.read(stdin, 4096):
            return 0
        now = time.monotonic()
        for fd in (a, b):
            if fd not in r:
                continue
            for _ in range(64):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EIO):   # EIO: the device is not up yet
                        break
                    raise
                out = other[fd]
                if queued[out] >= 10000:
                    continue
                start = max(now, free_at[out])
                free_at[out] = start + (len(frame) / rate if rate else 0.0)
                seq += 1
                queued[out] += 1
                heapq.heappush(heap, (free_at[out] + delay, seq, out, frame))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, out, frame = heapq.heappop(heap)
            queued[out] -= 1
            try:
                os.write(out, frame)
            except OSError:
                pass   # the other side is down: the frame is lost, as on a wire


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_link":
        sys.exit(_link_main(sys.argv[2]))
    if len(sys.argv) == 3 and sys.argv[1] == "_holder":
        try:
            sys.exit(_holder_main(sys.argv[2]))
        except subprocess.CalledProcessError as e:
            sys.stdout.write(f"holder: {' '.join(e.cmd)}: {e.stderr}\n")
            sys.exit(1)
        except OSError as e:
            sys.stdout.write(f"holder: {e}\n")
            sys.exit(1)
    print(__doc__)
