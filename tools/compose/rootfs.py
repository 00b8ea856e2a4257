#!/usr/bin/env python3
"""The root file system of the compose image's base, made of this host's installed Debian
packages: the given ones, the ones owning the libraries the given binaries load, and everything
they depend on.

No image registry is reachable from the machines zbuild is tested on, and debootstrap would
download the whole toolchain again; the host already has exactly the packages the binaries were
built against (tools/setup installs them), so the base is those packages' files.

  rootfs.py [--binary FILE]... [--tar OUT.tar] PKG...

prints a digest of the package set and versions (the base image's tag) and, with --tar, writes
the root file system.
"""

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile

# Documentation and translations: nothing in the containers reads them.
SKIP_PREFIXES = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/",
                 "/usr/share/lintian/", "/usr/share/bug/")
# Debian 12 has merged /usr: packages still list /bin/..., /lib/..., which are these links.
USR_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
PASSWD = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def installed():
    """Installed packages: name -> (version, [dependency groups of alternatives]); and what
    virtual package names the installed ones provide."""
    fmt = "${Package}\t${db:Status-Status}\t${Version}\t${Provides}\t${Pre-Depends}, ${Depends}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], check=True, capture_output=True, text=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        name, status, version, prov, deps = line.split("\t")
        if status != "installed":
            continue
        groups = []
        for group in deps.split(","):
            alts = [a.split()[0].split(":")[0] for a in group.split("|") if a.strip()]
            if alts:
                groups.append(alts)
        pkgs[name] = (version, groups)
        for p in prov.split(","):
            if p.strip():
                provides.setdefault(p.split()[0], name)
    return pkgs, provides


def closure(roots):
    """The roots and, recursively, the installed package satisfying each dependency."""
    pkgs, provides = installed()
    resolve = lambda n: n if n in pkgs else provides.get(n)
    seen, todo = set(), list(roots)
    while todo:
        want = todo.pop()
        name = resolve(want)
        if name is None:
            sys.exit(f"rootfs: package {want} is not installed on this host (run tools/setup)")
        if name in seen:
            continue
        seen.add(name)
        for alts in pkgs[name][1]:
            found = [resolve(a) for a in alts if resolve(a)]
            if found:
                todo.append(found[0])
    return {n: pkgs[n][0] for n in seen}


def library_owners(binaries):
    """The packages shipping the shared libraries the binaries load (as ldd resolves them); a
    statically linked binary (zbuild-cc, zbuild-sandbox) loads none."""
    libs = set()
    for b in binaries:
        r = subprocess.run(["ldd", b], capture_output=True, text=True)
        if r.returncode != 0:
            if "not a dynamic executable" in r.stdout + r.stderr:
                continue
            sys.exit(f"rootfs: ldd {b}: {(r.stdout + r.stderr).strip()}")
        libs |= {l.split()[2] for l in r.stdout.splitlines() if " => /" in l}
    owners = set()
    for lib in sorted(libs):
        # dpkg knows a file by the path its package lists, on either side of the /usr merge.
        for path in (lib, "/usr" + lib, lib.removeprefix("/usr")):
            r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
            if r.returncode == 0:
                owners.add(r.stdout.split(":")[0])
                break
        else:
            sys.exit(f"rootfs: no Debian package ships {lib} (loaded by {' '.join(binaries)})")
    return owners


def key(roots):
    listing = "".join(f"{n}={v}\n" for n, v in sorted(closure(roots).items()))
    with open(__file__, "rb") as f:   # a change here changes the base too
        me = f.read()
    return hashlib.sha256(listing.encode() + me).hexdigest()[:16]


def files(names):
    out = subprocess.run(["dpkg-query", "-L", *sorted(names)], check=True, capture_output=True, text=True).stdout
    paths = set()
    for p in out.splitlines():
        if not p.startswith("/") or p == "/." or p.startswith(SKIP_PREFIXES) or p[1:] in USR_LINKS:
            continue
        # Through the merged-/usr links to where the file really is (the file itself may be a link).
        real = os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))
        if os.path.lexists(real) and not (os.path.isdir(real) and not os.path.islink(real)):
            paths.add(real)
    return sorted(paths)


def add_text(tar, path, text, mode=0o644):
    data = text.encode()
    ti = tarfile.TarInfo(path)
    ti.size, ti.mode = len(data), mode
    tar.addfile(ti, io.BytesIO(data))


def write_tar(out, roots):
    names = closure(roots)
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for d in ("usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "tmp", "root", "var", "var/tmp",
                  "proc", "sys", "dev", "run"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if d in ("tmp", "var/tmp") else 0o755
            tar.addfile(ti)
        for link, target in USR_LINKS.items():
            ti = tarfile.TarInfo(link)
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(ti)
        for p in files(names):
            ti = tar.gettarinfo(p, p.lstrip("/"))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if ti.isreg():
                with open(p, "rb") as f:
                    tar.addfile(ti, f)
            else:
                tar.addfile(ti)
        add_text(tar, "etc/passwd", PASSWD)
        add_text(tar, "etc/group", GROUP)
        add_text(tar, "etc/zbuild-base-packages", "".join(f"{n} {v}\n" for n, v in sorted(names.items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append", default=[])
    ap.add_argument("--tar")
    ap.add_argument("packages", nargs="+")
    args = ap.parse_args()
    roots = set(args.packages) | (library_owners(args.binary) if args.binary else set())
    print(key(roots))
    if args.tar:
        write_tar(args.tar, roots)


if __name__ == "__main__":
    main()
