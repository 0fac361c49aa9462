#!/usr/bin/env python3
"""`antigravityd client-setup`: its text parses (export lines for the shell,
the TOML block with tomllib, the JSON fragments with json), it never shows a
key of the configuration, and what it says works: each client's settings,
used as that client would, get an answer from the running daemon."""

import json
import os
import subprocess
import tomllib

import harness
from harness import AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, post, t

CLIENT_KEY = "gw-client-key-setup-7a7a7a7a7a"
TEAM_KEY = "gw-team-key-setup-3c3c3c3c3c"
PROVIDER_KEYS = ["sk-chat-setup-1111", "sk-resp-setup-2222", "sk-ant-setup-3333", "AIza-gem-setup-4444"]


class ClientSetupTests(AgdTestCase):

    def setup_cmd(self, *args, config=None):
        r = subprocess.run([harness.AGD_BIN, "client-setup", *args] + (["-c", config] if config else []),
                           capture_output=True, text=True, timeout=t(30))
        harness.check_no_sanitizer_report(r.stderr, "client-setup")
        return r

    def start(self):
        self.mock = self.start_mock()
        self.port = harness.free_port_nobody_listens_on()
        text = build_config(
            self.tmp, listen="127.0.0.1:%d" % self.port,
            auth={"mode": "strict", "key": CLIENT_KEY},
            clients=[("team", {"key": TEAM_KEY})],
            providers=[
                ("chat", openai_provider(self.mock, [PROVIDER_KEYS[0]], "chat-*, qwen-model")),
                ("resp", openai_provider(self.mock, [PROVIDER_KEYS[1]], "resp-*, codex-model", api="responses")),
                ("anth", anthropic_provider(self.mock, [PROVIDER_KEYS[2]], "claude-*, claude-model")),
                ("gem", gemini_provider(self.mock, [PROVIDER_KEYS[3]], "gemini-*, gem-model")),
            ])
        self.conf = self.write_config(text)
        self.d = self.start_daemon(config_path=self.conf)

    def answer_text(self, client, env, files):
        """Asks the daemon what the client would, with its settings; returns
        the answer's text."""
        port = self.port
        if client == "claude":
            base, key, model = env["ANTHROPIC_BASE_URL"], env["ANTHROPIC_AUTH_TOKEN"], env["ANTHROPIC_MODEL"]
            path, body = "/v1/messages", {"model": model, "max_tokens": 50,
                                          "messages": [{"role": "user", "content": "hi"}]}
            headers = {"Authorization": "Bearer " + key, "anthropic-version": "2023-06-01"}
        elif client == "codex":
            cfg = tomllib.loads(files["~/.codex/config.toml"])
            prov = cfg["model_providers"][cfg["model_provider"]]
            self.assertEqual(prov["wire_api"], "responses")
            self.assertIs(prov["supports_websockets"], True)
            base, key, model = prov["base_url"], env[prov["env_key"]], cfg["model"]
            path, body = "/responses", {"model": model, "input": "hi"}
            headers = {"Authorization": "Bearer " + key}
        elif client == "gemini":
            settings = json.loads(files["~/.gemini/settings.json"])
            self.assertEqual(settings["security"]["auth"]["selectedType"], "gemini-api-key")
            base, key, model = env["GOOGLE_GEMINI_BASE_URL"], env["GEMINI_API_KEY"], env["GEMINI_MODEL"]
            path = "/v1beta/models/%s:generateContent" % model
            body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
            headers = {"x-goog-api-key": key}
        else:
            settings = json.loads(files["~/.qwen/settings.json"])
            self.assertEqual(settings["security"]["auth"]["selectedType"], "openai")
            base, key, model = env["OPENAI_BASE_URL"], env["OPENAI_API_KEY"], env["OPENAI_MODEL"]
            path, body = "/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            headers = {"Authorization": "Bearer " + key}
        prefix = "http://127.0.0.1:%d" % port
        self.assertTrue(base.startswith(prefix), base)
        r = post(port, base[len(prefix):] + path, body, headers)
        self.assertEqual(r.status, 200, r)
        return r.body.decode()

    def test_every_client_text_parses_hides_keys_and_works(self):
        self.start()
        natives = {"claude": "claude-model", "codex": "codex-model", "gemini": "gem-model", "qwen": "qwen-model"}
        for client, model in natives.items():
            with self.subTest(client=client):
                r = self.setup_cmd(client, config=self.conf)
                self.assertEqual(r.returncode, 0, r.stderr)
                for secret in [CLIENT_KEY, TEAM_KEY] + PROVIDER_KEYS:
                    self.assertNotIn(secret, r.stdout + r.stderr)
                env, files = harness.parse_client_setup(r.stdout)
                keys = [v for k, v in env.items() if k.endswith(("_KEY", "_TOKEN"))]
                self.assertEqual(keys, ["<your client key>"], env)
                # The placeholder stands for the client key: with it, the settings work.
                env = {k: (CLIENT_KEY if v == "<your client key>" else v) for k, v in env.items()}
                text = self.answer_text(client, env, files)
                self.assertIn("model=%s;" % model, text)  # the model of the provider of the client's own wire
                self.assertIn("cred=", text)

    def test_given_url_key_and_model_are_printed(self):
        self.start()
        for client in ("claude", "codex", "gemini", "qwen"):
            with self.subTest(client=client):
                r = self.setup_cmd(client, "--url", "http://127.0.0.1:%d/" % self.port, "--key", TEAM_KEY,
                                   "--model", "gemini-from-flag", config=self.conf)
                self.assertEqual(r.returncode, 0, r.stderr)
                env, files = harness.parse_client_setup(r.stdout)
                self.assertIn(TEAM_KEY, env.values())
                self.assertNotIn(CLIENT_KEY, r.stdout)
                text = self.answer_text(client, env, files)
                self.assertIn("model=gemini-from-flag;", text)  # served by the gemini provider, translated

    def test_errors(self):
        missing = os.path.join(self.tmp, "missing.conf")
        r = self.setup_cmd("emacs", config=missing)
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("unknown client 'emacs'", r.stderr)
        r = self.setup_cmd("codex", config=missing)
        self.assertEqual(r.returncode, 78, r)
        self.assertIn("--url", r.stderr)
        r = self.setup_cmd("codex", "--url", "https://gw.example", config=missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, files = harness.parse_client_setup(r.stdout)
        cfg = tomllib.loads(files["~/.codex/config.toml"])
        self.assertEqual(cfg["model_providers"]["antigravityd"]["base_url"], "https://gw.example/v1")
        self.assertNotIn("model", cfg)  # no model known: only a commented example
        kernel = self.write_config(build_config(self.tmp, listen="127.0.0.1:0"), "kernel.conf")
        r = self.setup_cmd("qwen", config=kernel)
        self.assertEqual(r.returncode, 78, r)
        self.assertIn("pass --url", r.stderr)
        r = self.setup_cmd("qwen", "--key", "a\nb", config=kernel)
        self.assertEqual(r.returncode, 64, r)


if __name__ == "__main__":
    harness.main()
