"""Other AI gateways measured next to antigravityd (bench.py --peers, off by
default): Portkey's AI gateway and claude-code-router, both Node programs
from the npm registry, versions pinned in bench/peers/package-lock.json and
installed with `npm ci` into a cache directory (AGD_BENCH_PEERS_DIR, default
~/.cache/antigravityd-bench/peers). Each runs on the SUT's CPU in front of
the same fast mock, on the workloads it can serve:

- Portkey gateway: workload 1 (passthrough, provider openai) and workload 2
  (OpenAI client -> Anthropic upstream, provider anthropic), routed by its
  x-portkey-provider and x-portkey-custom-host headers;
- claude-code-router: workload 8 (Anthropic client -> OpenAI upstream), the
  fast mock as its one provider.

Whatever is missing (npm, the registry, a Node too old) is reported as "not
measured" with the reason; nothing else in the run depends on it.
"""

import json
import os
import shutil
import subprocess
import time

import rig

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.join(HERE, "peers")
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def cache_dir():
    return os.environ.get("AGD_BENCH_PEERS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "antigravityd-bench", "peers")


def install():
    """npm ci of bench/peers/ into the cache directory, unless it is there
    already with the same lock file. Returns (directory, None) or (None, why)."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node and npm are not installed (apt-get install nodejs npm)"
    target = cache_dir()
    os.makedirs(target, exist_ok=True)
    fresh = True
    for name in ("package.json", "package-lock.json"):
        src, dst = os.path.join(PACKAGE_DIR, name), os.path.join(target, name)
        with open(src, "rb") as f:
            want = f.read()
        try:
            with open(dst, "rb") as f:
                same = f.read() == want
        except OSError:
            same = False
        if not same:
            with open(dst, "wb") as f:
                f.write(want)
            fresh = False
    if fresh and os.path.isdir(os.path.join(target, "node_modules")):
        return target, None
    rig.log("peers: npm ci into %s" % target)
    shutil.rmtree(os.path.join(target, "node_modules"), ignore_errors=True)
    try:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "npm ci failed: %s" % e
    if r.returncode != 0:
        lines = r.stdout.decode(errors="replace").strip().splitlines()
        return None, "npm ci failed: %s" % (lines[-1] if lines else "exit %d" % r.returncode)
    return target, None


def version(target, package):
    try:
        with open(os.path.join(target, "node_modules", package, "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


class Peer:
    """A peer gateway process on the SUT's CPU: port, pids, stop()."""

    def __init__(self, name, args, workdir, placement, port, env=None):
        self.name = name
        self.port = port
        self.p = rig.Proc(name, placement.prefix("sut") + args, workdir, env=env)
        try:
            rig.wait_port(port, 60)
        except rig.RigError:
            self.p.stop()
            raise rig.RigError("%s did not start: %s" % (name, self.p.log_text(600).strip()))
        time.sleep(0.5)
        self.pid = self.p.pid
        self.pids = [self.pid]

    def stop(self):
        self.p.stop()


def _check_chat(text):
    def check(j):
        return j.get("object") == "chat.completion" and (
            text is None or j["choices"][0]["message"]["content"] == text)
    return check


def _check_message(text):
    def check(j):
        return j.get("type") == "message" and j["content"][0]["text"] == text
    return check


def portkey(target, workdir, placement, fast_port):
    port = rig.free_port()
    return Peer("portkey", ["node", os.path.join(target, "node_modules", "@portkey-ai", "gateway", "build",
                                                 "start-server.js"), "--port=%d" % port, "--headless"],
                workdir, placement, port)


def claude_code_router(target, workdir, placement, fast_port):
    """claude-code-router reads ~/.claude-code-router/config.json: HOME is a
    directory of the run's."""
    port = rig.free_port()
    home = os.path.join(workdir, "ccr-home")
    os.makedirs(os.path.join(home, ".claude-code-router"), exist_ok=True)
    with open(os.path.join(home, ".claude-code-router", "config.json"), "w") as f:
        json.dump({"PORT": port, "HOST": "127.0.0.1", "LOG": False,
                   "Providers": [{"name": "fast", "api_base_url": "http://127.0.0.1:%d%s" % (fast_port, CHAT),
                                  "api_key": "bench-openai-key-1", "models": ["gpt-bench"]}],
                   "Router": {"default": "fast,gpt-bench"}}, f)
    return Peer("claude-code-router", ["node", os.path.join(target, "node_modules", "@musistudio",
                                                            "claude-code-router", "dist", "cli.js"), "start"],
                workdir, placement, port, env=dict(os.environ, HOME=home))


def definitions(fast_port):
    """(peer, npm package, starter, [(workload, label, path, request, headers, answer check)])."""
    custom = "http://127.0.0.1:%d/v1" % fast_port
    return [
        ("Portkey gateway", "@portkey-ai/gateway", portkey, [
            ("w1", "passthrough", CHAT, rig.chat_request("gpt-bench"),
             [("x-portkey-provider", "openai"), ("x-portkey-custom-host", custom),
              ("Authorization", "Bearer bench-openai-key-1")], _check_chat(None)),
            ("w2", "OpenAI client → Anthropic upstream", CHAT, rig.chat_request("claude-bench"),
             [("x-portkey-provider", "anthropic"), ("x-portkey-custom-host", custom),
              ("Authorization", "Bearer bench-anthropic-key-1")], _check_chat(rig.ANTHROPIC_TEXT))]),
        ("claude-code-router", "@musistudio/claude-code-router", claude_code_router, [
            ("w8", "Anthropic client → OpenAI upstream", MESSAGES, rig.messages_request("gpt-bench"),
             [("x-api-key", "bench-anthropic-key-1"), ("anthropic-version", "2023-06-01")],
             _check_message(rig.OPENAI_TEXT))]),
    ]
