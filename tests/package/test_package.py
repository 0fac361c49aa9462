#!/usr/bin/env python3
"""The Debian package on this machine, as a sysadmin meets it: install
(the antigravityd user made, the configuration 0640 root:antigravityd,
the unit where systemd looks and enabled), the service answering /healthz
with the default configuration as that user, an upgrade keeping an edited
configuration and its permissions, remove (configuration kept), purge
(configuration and state gone, the user kept).

It installs and removes a package: it runs only when asked
(AGD_PACKAGE_TEST=1), as root, with the .deb in AGD_DEB or dist/. Without
systemd as PID 1 (a container, CI) the service is started the way its unit
would: as its user, with its runtime and state directories.

    AGD_PACKAGE_TEST=1 python3 tests/package/test_package.py
"""

import glob
import grp
import json
import http.client
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONF = "/etc/antigravityd/antigravityd.conf"
UNIT = "/lib/systemd/system/antigravityd.service"
ENABLED = "/etc/systemd/system/multi-user.target.wants/antigravityd.service"
PORT = 8045  # the default configuration's listener


def find_deb():
    if os.environ.get("AGD_DEB"):
        return os.environ["AGD_DEB"]
    debs = sorted(glob.glob(os.path.join(ROOT, "dist", "antigravityd_*.deb")))
    return debs[-1] if debs else None


def run(*args, check=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s -> %d\n%s\n%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def package_status():
    r = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "antigravityd", check=False)
    return r.stdout.strip() if r.returncode == 0 else ""


def healthz_once():
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def healthz(timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            c.request("GET", "/healthz")
            r = c.getresponse()
            body = r.read()
            c.close()
            return r.status, body
        except OSError as e:
            last = e
            time.sleep(0.1)  # polling a service that is starting: no readiness channel to wait on
    raise AssertionError("no answer on 127.0.0.1:%d/healthz within %d s: %r" % (PORT, timeout, last))


def upgraded_copy(deb, tmp, version):
    """The same package with a higher version: what an upgrade installs."""
    tree = os.path.join(tmp, "tree")
    run("dpkg-deb", "-R", deb, tree)
    control = os.path.join(tree, "DEBIAN", "control")
    with open(control) as f:
        text = f.read()
    old = [line for line in text.splitlines() if line.startswith("Version: ")][0]
    with open(control, "w") as f:
        f.write(text.replace(old, "Version: " + version))
    out = os.path.join(tmp, "antigravityd_%s_test.deb" % version)
    run("dpkg-deb", "--root-owner-group", "-b", tree, out)
    return out


@unittest.skipUnless(os.environ.get("AGD_PACKAGE_TEST") == "1", "installs a package: set AGD_PACKAGE_TEST=1")
@unittest.skipUnless(hasattr(os, "geteuid") and os.geteuid() == 0, "needs root (dpkg -i)")
class PackageTests(unittest.TestCase):

    def setUp(self):
        self.deb = find_deb()
        if not self.deb:
            self.fail("no .deb: build one with scripts/package.sh or name it in AGD_DEB")
        self.tmp = tempfile.mkdtemp(prefix="agd-pkg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.proc = None
        if package_status():
            run("dpkg", "--purge", "antigravityd")
        self.addCleanup(self.cleanup)

    def cleanup(self):
        self.stop_service()
        if package_status():
            run("dpkg", "--purge", "antigravityd", check=False)

    # -- the service, started as its unit says -----------------------------

    def start_service(self):
        if systemd_running():
            run("systemctl", "start", "antigravityd")
            return
        user = pwd.getpwnam("antigravityd")
        for d, mode in (("/run/antigravityd", 0o750), ("/var/lib/antigravityd", 0o750)):
            os.makedirs(d, exist_ok=True)
            os.chown(d, user.pw_uid, user.pw_gid)
            os.chmod(d, mode)
        self.log = open(os.path.join(self.tmp, "service.log"), "wb")
        self.proc = subprocess.Popen(["runuser", "-u", "antigravityd", "--", "/usr/sbin/antigravityd", "run",
                                      "-c", CONF], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

    def stop_service(self):
        if systemd_running():
            run("systemctl", "stop", "antigravityd", check=False)
            return
        # After a binary upgrade the daemon is no longer our child: stopped
        # through its control socket.
        if not (self.proc and self.proc.poll() is None) and os.path.exists("/usr/sbin/antigravityd"):
            run("/usr/sbin/antigravityd", "stop", "-c", CONF, check=False)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def service_log(self):
        with open(os.path.join(self.tmp, "service.log"), errors="replace") as f:
            return f.read()

    def assert_answers(self):
        if self.proc and self.proc.poll() is not None:
            self.fail("the service exited %d:\n%s" % (self.proc.returncode, self.service_log()))
        status, body = healthz(60)
        self.assertEqual(status, 200, body)

    def daemon_pid(self):
        r = run("/usr/sbin/antigravityd", "status", "--json", "-c", CONF)
        return json.loads(r.stdout)["pid"]

    def assert_config_private(self):
        st = os.stat(CONF)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, "antigravityd")

    # -- the life of the package -------------------------------------------

    def test_install_upgrade_remove_purge(self):
        run("dpkg", "-i", self.deb)
        self.assertEqual(package_status(), "ii")
        user = pwd.getpwnam("antigravityd")
        self.assertEqual(user.pw_dir, "/var/lib/antigravityd")
        self.assertIn(user.pw_shell, ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"))
        self.assert_config_private()
        self.assertTrue(os.path.exists(UNIT), "the unit is not where Debian 12's systemd and debhelper look")
        self.assertTrue(os.path.islink(ENABLED), "the service is not enabled on install")
        # Socket activation is installed, and left for the sysadmin to enable.
        self.assertTrue(os.path.exists("/lib/systemd/system/antigravityd.socket"))
        self.assertFalse(os.path.exists("/etc/systemd/system/sockets.target.wants/antigravityd.socket"))
        self.assertTrue(os.path.exists("/usr/share/man/man8/antigravityd.8.gz"))
        self.assertTrue(os.path.exists("/usr/share/man/man5/antigravityd.conf.5.gz"))
        self.assertTrue(os.path.exists("/usr/share/doc/antigravityd/copyright"))
        r = run("/usr/sbin/antigravityd", "check-config", "-c", CONF)
        self.assertIn("configuration is valid", r.stdout + r.stderr)

        # A fresh install starts: the service user reads the configuration.
        self.start_service()
        self.assert_answers()
        self.stop_service()

        # An upgrade keeps the sysadmin's configuration and its permissions,
        # and replaces the running daemon without a failed request (postinst:
        # antigravityd upgrade).
        with open(CONF, "a") as f:
            f.write("\n# edited by the sysadmin\n")
        newer = upgraded_copy(self.deb, self.tmp, "99.0.0")
        self.start_service()
        self.assert_answers()
        before = self.daemon_pid()
        done = threading.Event()
        results = []

        def probe():
            while not done.is_set():
                try:
                    results.append(healthz_once())
                except OSError as e:
                    results.append(repr(e))

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        try:
            r = run("dpkg", "-i", "--force-confold", newer)
        finally:
            done.set()
            prober.join(60)
        self.assertIn("upgraded: PID", r.stdout + r.stderr)
        self.assertNotEqual(self.daemon_pid(), before)
        if self.proc:  # the old daemon (our child) drained and exited; the new one is not ours
            self.assertEqual(self.proc.wait(60), 0)
            self.proc = None
        self.assertTrue(results)
        self.assertEqual([x for x in results if x != 200], [])
        self.assert_answers()
        self.stop_service()
        self.assertEqual(run("dpkg-query", "-W", "-f=${Version}", "antigravityd").stdout, "99.0.0")
        with open(CONF) as f:
            self.assertIn("# edited by the sysadmin", f.read())
        self.assert_config_private()
        self.start_service()
        self.assert_answers()
        self.stop_service()

        # Remove: the binary goes, the configuration and the user stay.
        run("dpkg", "--remove", "antigravityd")
        self.assertFalse(os.path.exists("/usr/sbin/antigravityd"))
        self.assertTrue(os.path.exists(CONF))
        self.assertEqual(package_status(), "rc")

        # Purge: configuration and state go; the user stays (policy).
        run("dpkg", "--purge", "antigravityd")
        self.assertFalse(os.path.exists(CONF))
        self.assertFalse(os.path.exists("/var/lib/antigravityd"))
        self.assertFalse(os.path.islink(ENABLED))
        self.assertEqual(package_status(), "")
        pwd.getpwnam("antigravityd")


if __name__ == "__main__":
    unittest.main(verbosity=2)
