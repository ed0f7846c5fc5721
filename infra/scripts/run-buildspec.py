#!/usr/bin/env python3
"""Run a CodeBuild buildspec (version 0.2) locally the way the project's local
Step Functions engine does: each command as its own `sh -c` process with the
current environment (plus CODEBUILD_SRC_DIR), phases install, pre_build, build,
post_build in order.

CodeBuild semantics kept: a failing install/pre_build command stops the build;
a failing build command skips the rest of build but post_build still runs
(CODEBUILD_BUILD_SUCCEEDING=0). buildspec env.variables are defaults that the
caller's environment overrides. Exported variables are read from the file named
by TF_EXPORTS_FILE (the buildspec writes NAME=value lines there) and printed as
JSON on the last line of stderr. Exit status 0 when the build succeeded.

Usage: run-buildspec.py BUILDSPEC [SRC_DIR]   (needs PyYAML)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml


def main() -> int:
    spec_path = sys.argv[1]
    src_dir = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else ".")
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    if str(spec.get("version")) != "0.2":
        print(f"unsupported buildspec version {spec.get('version')}", file=sys.stderr)
        return 2

    env_spec = spec.get("env", {}) or {}
    env = {k: str(v) for k, v in (env_spec.get("variables") or {}).items()}
    env.update(os.environ)
    env["CODEBUILD_SRC_DIR"] = src_dir
    env["CODEBUILD_BUILD_SUCCEEDING"] = "1"
    exports_file = env.get("TF_EXPORTS_FILE")
    if not exports_file:
        fd, exports_file = tempfile.mkstemp(prefix="tf-exports-")
        os.close(fd)
        env["TF_EXPORTS_FILE"] = exports_file

    phases = spec.get("phases", {}) or {}
    succeeded = True
    for phase in ("install", "pre_build", "build", "post_build"):
        if not succeeded and phase != "post_build":
            continue
        for cmd in (phases.get(phase) or {}).get("commands", []) or []:
            started = time.monotonic()
            print(f"[{phase}] $ {cmd}", file=sys.stderr, flush=True)
            rc = subprocess.run(["sh", "-c", cmd], env=env, cwd=src_dir).returncode
            print(f"[{phase}] exit {rc} after {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
            if rc != 0:
                succeeded = False
                env["CODEBUILD_BUILD_SUCCEEDING"] = "0"
                break
        if not succeeded and phase in ("install", "pre_build"):
            break

    exported = {name: "" for name in env_spec.get("exported-variables") or []}
    with open(exports_file) as f:
        for line in f:
            name, sep, value = line.rstrip("\n").partition("=")
            if sep and name in exported:
                exported[name] = value
    if not os.environ.get("TF_EXPORTS_FILE"):
        os.unlink(exports_file)
    print("EXPORTED " + json.dumps(exported), file=sys.stderr)
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
