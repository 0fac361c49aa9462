"""The agent CLIs themselves (Codex CLI, Gemini CLI, Qwen Code, Claude
Code; npm, versions pinned in package-lock.json) run headless against the
real daemon in front of agd-mock-upstream, set up from what
`antigravityd client-setup` prints.

The daemon has one provider per upstream wire (chat, responses, anthropic,
gemini), chosen by the model name's prefix. For each CLI and each wire:

- a text turn (model `...+calls=0`: the mock answers in text although
  tools are offered): the CLI exits 0 and prints the mock's text;
- a tool round trip (the mock calls the first tool offered; the CLI runs
  it and sends the result; the mock answers `tool result: ...`): the CLI
  exits 0 and prints that answer.

Every run also checks that each function tool the CLI declared (read from
the daemon's request store, which keeps the client's body) reached the
upstream in the upstream's form (read from the mock's request log), and
records the requests the CLI sent besides model calls (side calls): each
must be answered with a success.

Each CLI runs sandboxed: HOME and the working directory in a temp dir, a
minimal environment (no inherited keys), telemetry and usage statistics
off, any proxy-aware HTTP client pointed at a closed loopback port (Claude
Code excepted, see Claude), stdin closed, a bounded timeout. The machine the
tests run on reaches no host but the npm registry."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest

import npm_clients

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

# The upstream wire, the prefix of the model names routed to it.
WIRES = [("chat", "chat-"), ("responses", "resp-"), ("anthropic", "anth-"), ("gemini", "gem-")]
GENERATION = re.compile(r"^(/v1/chat/completions|/v1/responses|/v1/messages|"
                        r"/v1beta/models/[^/:]+:(stream)?[gG]enerateContent)$")
KEY = "gw-cli-agents-key-0c0c0c0c0c"


def wire_of_path(path):
    if path.startswith("/v1/chat/completions"):
        return "chat"
    if path.startswith("/v1/responses"):
        return "responses"
    if path.startswith("/v1/messages"):
        return "anthropic"
    return "gemini"


def is_model_call(a):
    """An access line of a model call: a POST to a generation path, or a
    message on the Responses WebSocket (method WS) that reached a model (a
    warm-up, answered by the daemon itself, names no protocol)."""
    if a.get("method") == "WS":
        return a.get("proto", "-") != "-"
    return a.get("method") == "POST" and bool(GENERATION.match(a.get("path", "")))


WIRE_OF_PROTOCOL = {"openai-chat": "chat", "openai-responses": "responses", "anthropic": "anthropic",
                    "gemini": "gemini"}


def responses_tools(body):
    """Function tools of a Responses request, named as a function-only wire
    names them (a namespace's function as `<namespace>__<name>`, the
    `functions` namespace adding nothing); hosted tools are left out."""
    tools = list(body.get("tools") or [])
    for item in body.get("input") if isinstance(body.get("input"), list) else []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            tools.extend(item.get("tools") or [])
    names = set()
    for t in tools:
        if t.get("type") in ("function", "custom"):
            names.add(t["name"])
        elif t.get("type") == "namespace":
            for inner in t.get("tools") or []:
                names.add(inner["name"] if t["name"] == "functions" else "%s__%s" % (t["name"], inner["name"]))
    return names


def hosted_tools(body):
    """The Responses hosted tools (web_search...) a request declares."""
    return {t.get("type") for t in body.get("tools") or []
            if t.get("type") not in ("function", "custom", "namespace")}


def upstream_search(wire, body):
    """True when a request offers the upstream's own web search."""
    tools = body.get("tools") or []
    if wire == "chat":
        return "web_search_options" in body
    if wire == "anthropic":
        return any(str(t.get("type", "")).startswith("web_search_") for t in tools)
    if wire == "gemini":
        return any("googleSearch" in t or "google_search" in t for t in tools)
    return any(t.get("type") in ("web_search", "web_search_preview") for t in tools)


def tool_names(wire, body):
    """The function tools a request declares, in its wire's form."""
    tools = body.get("tools") or []
    if wire == "chat":
        return {t["function"]["name"] for t in tools if t.get("type") == "function"}
    if wire == "responses":
        return responses_tools(body)
    if wire == "anthropic":
        # A deferred tool (defer_loading) is not the model's until a tool
        # search loads it; another wire gets it only from then on.
        return {t["name"] for t in tools if t.get("type") in (None, "custom") and not t.get("defer_loading")}
    names = set()
    for t in tools:
        for f in t.get("functionDeclarations") or t.get("function_declarations") or []:
            names.add(f["name"])
    return names


class Cli:
    """One agent CLI: how to set it up from client-setup's text, and run it."""
    name = ""       # client-setup's name
    binary = ""     # in node_modules/.bin
    version = ""    # pinned in package.json
    dead_proxy = True  # point proxy-aware HTTP clients at a closed port

    def __init__(self, bindir):
        self.path = os.path.join(bindir, self.binary)

    def prepare(self, home, env, files):
        """Writes the files client-setup named into HOME; returns the extra
        environment."""
        for path, body in files.items():
            self.write(home, path, body)
        return {}

    def write(self, home, path, body):
        assert path.startswith("~/"), path
        full = os.path.join(home, path[2:])
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(body)

    def argv(self, prompt):
        raise NotImplementedError

    # How its model calls reach the daemon (the access line's method); None: not checked.
    transport = None


class Codex(Cli):
    name, binary, version = "codex", "codex", "0.171.0"
    # client-setup's block: the Responses API over a WebSocket.
    transport = "WS"

    def prepare(self, home, env, files):
        # The block must parse as TOML as printed; analytics off on top.
        cfg = files["~/.codex/config.toml"]
        assert tomllib.loads(cfg)["model_providers"]["antigravityd"]["supports_websockets"] is True, \
            "client-setup's Codex block does not use the WebSocket transport"
        if self.transport == "POST":
            cfg = cfg.replace("supports_websockets = true", "supports_websockets = false")
        self.write(home, "~/.codex/config.toml", cfg + "\n[analytics]\nenabled = false\n")
        return {}

    def argv(self, prompt):
        # exec: headless, approval "never", the default read-only sandbox
        # (the mock's call runs `Paris` in it: command not found).
        return [self.path, "exec", "--skip-git-repo-check", prompt]


class CodexHttp(Codex):
    """Codex with supports_websockets = false: HTTP and SSE."""
    transport = "POST"


class JsonSettingsCli(Cli):
    settings = ""

    def prepare(self, home, env, files):
        settings = json.loads(files[self.settings])
        settings["privacy"] = {"usageStatisticsEnabled": False}
        settings["telemetry"] = {"enabled": False}
        self.write(home, self.settings, json.dumps(settings))
        return {}


class Gemini(JsonSettingsCli):
    name, binary, version, settings = "gemini", "gemini", "0.61.0", "~/.gemini/settings.json"

    def prepare(self, home, env, files):
        super().prepare(home, env, files)
        # Headless runs refuse an untrusted folder; no relaunch with a larger heap.
        return {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"}

    def argv(self, prompt):
        return [self.path, "-p", prompt]


class Qwen(JsonSettingsCli):
    name, binary, version, settings = "qwen", "qwen", "0.24.4", "~/.qwen/settings.json"

    def argv(self, prompt):
        return [self.path, "-p", prompt]


class Claude(Cli):
    name, binary, version = "claude", "claude", "2.1.332"

    # With a proxy set, or CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, Claude
    # Code skips its connection warm-up (HEAD /api/hello at the base URL): a
    # side call users see, so it runs as users run it, telemetry, error
    # reports and updates off one by one. The machine reaches no other host.
    dead_proxy = False

    def prepare(self, home, env, files):
        return {"DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1"}

    def argv(self, prompt):
        # Only the Read tool: the default set starts with Agent, which the
        # mock would call in every sub-agent again, without end.
        return [self.path, "-p", "--tools", "Read", "--", prompt]


class CliAgentTests(unittest.TestCase):
    maxDiff = 4000
    side_calls = {}  # (cli, method, path) -> set of statuses

    @classmethod
    def setUpClass(cls):
        if shutil.which("node") is None:
            raise unittest.SkipTest("node is needed (scripts/install-deps.sh installs it)")
        cls.bindir = os.path.join(npm_clients.install(), "node_modules", ".bin")
        cls._tmp = tempfile.TemporaryDirectory(prefix="agd-cli-")
        cls.tmp = cls._tmp.name
        cls.mock = harness.Mock(cls.tmp)
        cls.daemon = None
        try:
            cls.port = harness.free_port_nobody_listens_on()
            providers = [
                ("chat", harness.openai_provider(cls.mock, ["kc"], "chat-*")),
                ("responses", harness.openai_provider(cls.mock, ["kr"], "resp-*", api="responses")),
                ("anthropic", harness.anthropic_provider(cls.mock, ["ka"], "anth-*")),
                ("gemini", harness.gemini_provider(cls.mock, ["kg"], "gem-*")),
            ]
            cls.conf = os.path.join(cls.tmp, "agd.conf")
            with open(cls.conf, "w") as f:
                f.write(harness.build_config(cls.tmp, listen="127.0.0.1:%d" % cls.port, providers=providers,
                                             auth={"mode": "all_except_health", "key": KEY},
                                             log={"bodies": "all", "body_max": "4M"}))
            cls.daemon = harness.Daemon(cls.tmp, cls.conf)
            cls.daemon.wait_ready()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        problem = cls.daemon.stop() if cls.daemon else None
        reports = cls.daemon.sanitizer_reports() if cls.daemon else None
        cls.mock.stop()
        mock_reports = harness.sanitizer_reports(cls.mock.log())
        if cls.side_calls:
            sys.stdout.write("\nside calls (cli, method, path: statuses):\n")
            for (cli, method, path), statuses in sorted(cls.side_calls.items()):
                sys.stdout.write("  %s %s %s: %s\n" % (cli, method, path, sorted(statuses)))
        cls._tmp.cleanup()
        if reports or mock_reports:
            raise AssertionError("sanitizer report:\n%s" % (reports or mock_reports))
        if problem:
            raise AssertionError(problem)

    # -- one run ---------------------------------------------------------------

    def setup_text(self, cli, model):
        r = subprocess.run([harness.AGD_BIN, "client-setup", cli.name, "-c", self.conf, "--key", KEY,
                            "--model", model], capture_output=True, text=True, timeout=harness.t(30))
        self.assertEqual(r.returncode, 0, r.stderr)
        return harness.parse_client_setup(r.stdout)

    def run_cli(self, cli, model, prompt):
        """Runs the CLI once; returns (stdout, the daemon's access lines of
        the run, the mock's requests of the run)."""
        env, files = self.setup_text(cli, model)
        run_dir = tempfile.mkdtemp(prefix=cli.name + "-", dir=self.tmp)
        home, work = os.path.join(run_dir, "home"), os.path.join(run_dir, "work")
        os.makedirs(home)
        os.makedirs(work)
        full_env = {
            "PATH": os.path.dirname(shutil.which("node")) + ":/usr/bin:/bin",
            "HOME": home, "TMPDIR": run_dir, "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1",
        }
        if cli.dead_proxy:
            dead = "http://127.0.0.1:%d" % harness.free_port_nobody_listens_on()
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                full_env[name] = dead
            full_env["NO_PROXY"] = full_env["no_proxy"] = "127.0.0.1,localhost"
        full_env.update(env)
        full_env.update(cli.prepare(home, env, files))
        self.mock.clear()
        before = len(self.daemon.access_lines())
        try:
            r = subprocess.run(cli.argv(prompt), cwd=work, env=full_env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=harness.t(90))
        except subprocess.TimeoutExpired as e:
            self.fail("%s did not finish within %.0f s; stdout:\n%s" % (cli.name, e.timeout, (e.stdout or "")[-2000:]))
        self.assertEqual(r.returncode, 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s"
                         % (cli.name, r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
        # A logger thread writes the access lines: wait until every model
        # call the mock saw has its line.
        upstream = [q for q in self.mock.requests() if q["method"] == "POST" and GENERATION.match(q["path"])]

        def run_lines():
            access = [harness.parse_access(x) for x in self.daemon.access_lines()[before:]]
            calls = [a for a in access if is_model_call(a)]
            return access if len(calls) >= len(upstream) else None
        access = harness.wait_until(run_lines, harness.t(30), "the access lines of %s's run" % cli.name)
        self.assertTrue(upstream, "%s sent no model call upstream" % cli.name)
        return r.stdout, access, upstream

    def stored_body(self, request_id):
        """The client's request body, from the request store (written by a
        logger thread: waited for)."""
        def read():
            r = subprocess.run([harness.AGD_BIN, "log", "-c", self.conf, "--id", request_id, "--json"],
                               capture_output=True, text=True, timeout=harness.t(30))
            return r.stdout if r.returncode == 0 else None
        rows = json.loads(harness.wait_until(read, harness.t(30), "request %s in the store" % request_id))
        row = rows[0] if isinstance(rows, list) else rows
        self.assertFalse(row.get("request_truncated"), "body of %s cut in the store" % request_id)
        return json.loads(row["request_body"])

    def check_tools(self, cli, wire, access, upstream_requests):
        """Every function tool the CLI declared reached the upstream, in the
        upstream's form. A hosted tool (Codex's web_search) toward another
        wire either reached it in that wire's form (a web search the wire
        has, a client-run tool_search as a function) or was left out with
        the daemon's warning."""
        declared, hosted, deferred = set(), set(), set()
        for a in access:
            if not is_model_call(a):
                continue
            body = self.stored_body(a["id"])
            protocol = WIRE_OF_PROTOCOL[a["proto"]]
            declared |= tool_names(protocol, body)
            if protocol == "responses":
                hosted |= hosted_tools(body)
            if protocol == "anthropic":
                deferred |= {t["name"] for t in body.get("tools") or [] if t.get("defer_loading")}
        upstream, searched = set(), False
        for req in upstream_requests:
            body = json.loads(req["body"])
            upstream |= tool_names(wire_of_path(req["path"]), body)
            searched = searched or upstream_search(wire_of_path(req["path"]), body)
        self.assertTrue(declared, "%s declared no tools" % cli.name)
        self.assertEqual(declared - upstream, set(), "%s's tools missing toward the %s wire" % (cli.name, wire))
        self.assertLessEqual(upstream - declared, hosted | deferred,
                             "tools %s made up toward the %s wire" % (cli.name, wire))
        if wire != "responses":
            for kind in hosted:
                crossed = kind in upstream or (kind.startswith("web_search") and searched)
                if not crossed:
                    self.daemon.wait_log(r"warning provider %s: a client's %s tool has no form" % (wire, kind))

    def check_transport(self, cli, access):
        if cli.transport is None:
            return
        methods = {a["method"] for a in access if is_model_call(a)}
        self.assertEqual(methods, {cli.transport}, "%s's model calls went as %s" % (cli.name, methods))

    def record_side_calls(self, cli, access):
        for a in access:
            if is_model_call(a) or a.get("method") == "WS":
                continue
            self.side_calls.setdefault((cli.name, a["method"], a["path"]), set()).add(int(a["status"]))

    def check_cli(self, cli_class):
        cli = cli_class(self.bindir)
        version = subprocess.run([cli.path, "--version"], capture_output=True, text=True, timeout=harness.t(60))
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertIn(cli.version, version.stdout)
        for wire, prefix in WIRES:
            with self.subTest(cli=cli.name, wire=wire, turn="text"):
                model = "%s%s+calls=0" % (prefix, cli.name)
                out, access, upstream = self.run_cli(cli, model, "Say hello in one word.")
                self.assertIn("model=%s;#0;#1;#2;" % model, out)
                self.check_transport(cli, access)
                self.check_tools(cli, wire, access, upstream)
                self.record_side_calls(cli, access)
            with self.subTest(cli=cli.name, wire=wire, turn="tool"):
                model = prefix + cli.name
                out, access, upstream = self.run_cli(cli, model, "List the files in this directory.")
                self.assertIn("tool result: ", out)  # the mock's answer to the CLI's tool result
                self.check_transport(cli, access)
                self.check_tools(cli, wire, access, upstream)
                self.record_side_calls(cli, access)
        bad = {k: v for k, v in self.side_calls.items() if k[0] == cli.name and max(v) >= 400}
        self.assertFalse(bad, "side calls the daemon answered with an error: %r" % bad)

    def test_codex(self):
        self.check_cli(Codex)

    def test_codex_over_http(self):
        self.check_cli(CodexHttp)

    def test_gemini_cli(self):
        self.check_cli(Gemini)

    def test_qwen_code(self):
        self.check_cli(Qwen)

    def test_claude_code(self):
        self.check_cli(Claude)


if __name__ == "__main__":
    unittest.main(verbosity=2)
