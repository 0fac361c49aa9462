"""The official OpenAI, Anthropic and Google Gen AI SDKs (JavaScript, from
the npm registry, versions pinned in package-lock.json) pointed at the real
daemon in front of agd-mock-upstream. The SDKs are installed by
npm_clients.py."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import npm_clients

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402


class SdkTests(unittest.TestCase):
    def run_script(self, name, providers, passed_line):
        self.assertIsNotNone(shutil.which("node"), "node is needed (scripts/install-deps.sh installs it)")
        target = npm_clients.install()
        with tempfile.TemporaryDirectory(prefix="agd-sdk-") as tmp:
            mock = harness.Mock(tmp)
            try:
                cfg = os.path.join(tmp, "agd.conf")
                with open(cfg, "w") as f:
                    f.write(harness.build_config(tmp, providers=providers(mock)))
                d = harness.Daemon(tmp, cfg)
                try:
                    d.wait_ready()
                    script = os.path.join(target, name)
                    shutil.copyfile(os.path.join(HERE, name), script)
                    r = subprocess.run(["node", script, "http://127.0.0.1:%d" % d.port], capture_output=True,
                                       text=True, timeout=harness.t(300))
                    sys.stdout.write(r.stdout)
                    sys.stderr.write(r.stderr[-4000:])
                    self.assertEqual(r.returncode, 0, "SDK checks failed:\n" + r.stdout + r.stderr[-2000:])
                    self.assertIn(passed_line, r.stdout)
                    reports = d.sanitizer_reports()
                    self.assertFalse(reports, reports)
                finally:
                    d.stop()
            finally:
                mock.stop()

    def test_official_sdks_through_the_gateway(self):
        self.run_script("sdk_check.mjs", lambda mock: [
            ("openai", harness.openai_provider(mock, ["ko"], "gpt-*, sdk-fast=gpt-fast, text-embedding-*, whisper-*, tts-*")),
            ("responses", harness.openai_provider(mock, ["kr"], "gpt-*", api="responses")),
            ("anthropic", harness.anthropic_provider(mock, ["ka"], "claude-*")),
            ("gemini", harness.gemini_provider(mock, ["kg"], "gemini-*")),
        ], "all SDK check(s) passed")

    def test_official_sdks_with_translation_to_every_upstream(self):
        self.run_script("sdk_translate.mjs", lambda mock: [
            ("chat", harness.openai_provider(mock, ["kc"], "sdk-chat*")),
            ("resp", harness.openai_provider(mock, ["kr"], "sdk-resp*", api="responses")),
            ("anth", harness.anthropic_provider(mock, ["ka"], "sdk-anth*")),
            ("gem", harness.gemini_provider(mock, ["kg"], "sdk-gem*")),
        ], "all SDK translation check(s) passed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
