"""Headless Chromium for the browser tests of antigravityd's web console.

The console is HTML and JavaScript served by the daemon. Its tests need a real
browser to load the pages, click, type and look at the result, and above all
to notice every JavaScript problem: uncaught exceptions, console.error() and
console.assert() calls, Content-Security-Policy violations and resources that
failed to load. A test asserts that the list of errors stays empty.

Chromium is driven through the Chrome DevTools Protocol over
--remote-debugging-pipe: it reads commands from file descriptor 3 and writes
answers and events to file descriptor 4, each message a JSON text followed by
a NUL byte. No port, no WebSocket, nothing beyond the standard library. If the
test process dies, the pipe closes and Chromium exits by itself.

    with browser.Browser() as b:
        b.goto(base + "/console/")
        b.type("#key", "secret")
        b.press("Enter")
        b.wait_for("document.querySelector('#status').textContent == 'ok'")
        assert not b.take_errors()

A missing Chromium is a failure, not a skip: Browser() raises BrowserError (an
AssertionError) that says so; chromium_path() tells beforehand.

Environment:
  AGD_CHROMIUM       the Chromium executable (default: chromium on PATH)
  AGD_TIMEOUT_SCALE  multiplies every timeout (default 1; e.g. 3 under ASan)
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

CHROMIUM = os.environ.get("AGD_CHROMIUM") or "chromium"
TIMEOUT_SCALE = float(os.environ.get("AGD_TIMEOUT_SCALE", "1") or "1")

FLAGS = [
    "--headless=new",
    "--no-sandbox",             # the sandbox refuses to start as root
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
    "--remote-debugging-pipe",
    "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--metrics-recording-only", "--mute-audio",
]

# Chromium asks each origin for /favicon.ico unless the page names an icon,
# and logs the 404 as an error: the browser's doing, not the page's.
IGNORED = (r"/favicon\.ico\)$",)

# key: (code, Windows virtual key code, text the key types)
KEYS = {
    "Enter": ("Enter", 13, "\r"), "Tab": ("Tab", 9, ""),
    "Escape": ("Escape", 27, ""), "Backspace": ("Backspace", 8, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""), "ArrowUp": ("ArrowUp", 38, ""),
    "ArrowRight": ("ArrowRight", 39, ""), "ArrowDown": ("ArrowDown", 40, ""),
}


class BrowserError(AssertionError):
    pass


def chromium_path():
    """The Chromium executable's full path, or None when it is not installed."""
    return shutil.which(CHROMIUM)


def _where(url, line=None, column=None):
    """" (url:line:column)" from 0-based numbers, or "" without a URL."""
    if not url:
        return ""
    if line is None:
        return " (%s)" % url
    return " (%s:%d%s)" % (url, line + 1, "" if column is None else ":%d" % (column + 1))


def _text(obj):
    """A Runtime.RemoteObject (a console argument, an exception) as text."""
    if "value" in obj:
        return obj["value"] if isinstance(obj["value"], str) else json.dumps(obj["value"])
    return obj.get("description") or obj.get("unserializableValue") or obj.get("type", "?")


def _exception(details):
    """Runtime.ExceptionDetails as one line: the message and where it was thrown."""
    text = details.get("text") or "exception"
    if details.get("exception"):
        message = (_text(details["exception"]).splitlines() or [""])[0]
        text = (text + " " + message if text.startswith("Uncaught") else message).strip()
    return text + _where(details.get("url"), details.get("lineNumber"), details.get("columnNumber"))


def _problem(method, p):
    """The readable form of an event that reports a problem, else None."""
    if method == "Runtime.exceptionThrown":
        return _exception(p["exceptionDetails"])
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        top = ((p.get("stackTrace") or {}).get("callFrames") or [{}])[0]
        return "console.%s: %s%s" % (p["type"], " ".join(_text(a) for a in p.get("args", [])),
                                     _where(top.get("url"), top.get("lineNumber"), top.get("columnNumber")))
    if method == "Log.entryAdded" and p["entry"].get("level") == "error":
        e = p["entry"]
        return "%s: %s%s" % (e.get("source", "log"), e.get("text", ""), _where(e.get("url"), e.get("lineNumber")))
    return None


class Browser:
    """One headless Chromium showing one page. As a context manager it kills
    Chromium and removes its profile on exit, also when the test failed.
    Timeouts are in seconds and multiplied by AGD_TIMEOUT_SCALE. Problems
    matching a pattern of `ignore` go to .ignored instead of .errors."""

    def __init__(self, width=1280, height=800, timeout=10, ignore=IGNORED):
        self.timeout = timeout
        self.size = (width, height)
        self.ignore = [re.compile(p) for p in ignore]
        self.ignored = []
        self.session = self.tmp = self._proc = self._reader = None
        self._to_browser = self._from_browser = None
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._answers, self._counts, self._errors = {}, {}, []
        self._last_id = 0
        self._dead = False

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    def start(self):
        exe = chromium_path()
        if not exe:
            raise BrowserError("Chromium not found (%r is not on PATH): install it "
                               "(apt-get install chromium) or point AGD_CHROMIUM at it" % CHROMIUM)
        self.tmp = tempfile.mkdtemp(prefix="agd-chromium-")
        browser_reads, self._to_browser = os.pipe()
        self._from_browser, browser_writes = os.pipe()

        def onto_3_and_4():  # runs in the child between fork and exec
            r, w = os.dup(browser_reads), os.dup(browser_writes)  # neither is 3 nor 4
            os.dup2(r, 3)
            os.dup2(w, 4)

        # pass_fds keeps 3 and 4 open across exec. subprocess wants them open
        # here too, and they are: the kernel gave the pipes the lowest free numbers.
        # The XDG directories keep the crash handler's database out of $HOME.
        env = dict(os.environ, XDG_CONFIG_HOME=self.tmp, XDG_CACHE_HOME=self.tmp)
        try:
            with open(os.path.join(self.tmp, "chromium.log"), "wb") as log:
                self._proc = subprocess.Popen(
                    [exe, *FLAGS, "--user-data-dir=" + os.path.join(self.tmp, "profile"), "about:blank"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, pass_fds=(3, 4),
                    preexec_fn=onto_3_and_4, start_new_session=True)
        finally:
            os.close(browser_reads)
            os.close(browser_writes)
        self._reader = threading.Thread(target=self._read, name="chromium-cdp", daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Runtime", "Page", "Log"):
            self.send(domain + ".enable")
        self.set_viewport(*self.size)

    def close(self):
        """Ends Chromium and removes its profile; safe to call twice. Chromium
        exits by itself when its pipe closes (a hung one gets SIGKILL after
        2 s), and whatever is left of its process group gets SIGKILL."""
        proc, self._proc = self._proc, None
        if self._to_browser is not None:
            os.close(self._to_browser)
            self._to_browser = None
        if proc:
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        if self._reader:
            self._reader.join(5)
        if self._from_browser is not None and not (self._reader and self._reader.is_alive()):
            os.close(self._from_browser)
            self._from_browser = None
        self._reader = None
        for pause in (0, 0.5, 1):  # the crash handler (its own process group)
            if self.tmp and os.path.exists(self.tmp):  # may still be going away
                time.sleep(pause)
                shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    # -- the protocol --------------------------------------------------------

    def _read(self):
        """The reader thread: splits what Chromium writes at NUL bytes and
        dispatches the messages, until end of file."""
        buf = bytearray()
        try:
            while True:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    break
                buf += chunk
                if b"\0" in chunk:
                    *messages, rest = buf.split(b"\0")
                    buf = bytearray(rest)
                    for raw in messages:
                        self._dispatch(json.loads(raw))
        finally:
            with self._cond:
                self._dead = True
                self._cond.notify_all()

    def _dispatch(self, msg):
        with self._cond:
            if "id" in msg:
                self._answers[msg["id"]] = msg
            elif msg.get("sessionId"):
                method = msg.get("method")
                self._counts[method] = self._counts.get(method, 0) + 1
                try:
                    problem = _problem(method, msg.get("params", {}))
                except (KeyError, IndexError, TypeError, ValueError) as e:
                    problem = "%s, not understood here (%r): %s" % (method, e, json.dumps(msg)[:500])
                if problem:
                    ignored = any(p.search(problem) for p in self.ignore)
                    (self.ignored if ignored else self._errors).append(problem)
            self._cond.notify_all()

    def _failure(self, what):
        """A BrowserError about `what`, with Chromium's exit status and output."""
        status = None
        if self._proc:
            try:  # a browser that went away is usually about to be reaped
                status = self._proc.wait(1 if self._dead else 0)
            except subprocess.TimeoutExpired:
                pass
        if status is not None:
            what += "\nChromium exited with status %d" % status
        try:
            with open(os.path.join(self.tmp, "chromium.log"), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            lines = [line for line in lines if "dbus" not in line][-15:]  # no D-Bus here, it says so a lot
            if lines:
                what += "\nChromium's output ends with:\n" + "\n".join(lines)
        except (OSError, TypeError):
            pass
        return BrowserError(what)

    def _wait(self, done, timeout, what):
        """Waits (holding self._cond) until done() holds; raises on timeout or
        when Chromium went away."""
        deadline = time.monotonic() + timeout * TIMEOUT_SCALE
        while not done():
            left = deadline - time.monotonic()
            if self._dead or left <= 0:
                raise self._failure("%s: %s" % (what, "Chromium went away" if self._dead else
                                                "no answer within %.1f s" % (timeout * TIMEOUT_SCALE)))
            self._cond.wait(left)

    def send(self, method, params=None, timeout=None, session=True):
        """Sends one command (to the page unless session=False); returns its result."""
        with self._cond:
            self._last_id += 1
            msg_id = self._last_id
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        try:
            with self._write_lock:
                while data:
                    data = data[os.write(self._to_browser, data):]
        except (OSError, TypeError) as e:
            raise self._failure("%s: cannot write to Chromium (%s)" % (method, e))
        with self._cond:
            self._wait(lambda: msg_id in self._answers, timeout or self.timeout, method)
            answer = self._answers.pop(msg_id)
        if "error" in answer:
            err = answer["error"]
            raise BrowserError("%s: %s %s" % (method, err.get("message"), err.get("data", "")))
        return answer.get("result", {})

    # -- what tests use ------------------------------------------------------

    @property
    def errors(self):
        """The JavaScript problems reported so far, as readable lines."""
        with self._cond:
            return list(self._errors)

    def take_errors(self):
        """Returns and forgets the problems reported so far, after a round trip
        to the page (so that everything it reported before is in)."""
        if not self._dead:
            self.eval("0")
        with self._cond:
            errors, self._errors = self._errors, []
        return errors

    def goto(self, url, timeout=15):
        """Navigates to a new document and waits for its load event."""
        with self._cond:
            loads = self._counts.get("Page.loadEventFired", 0)
        result = self.send("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise BrowserError("cannot load %s: %s" % (url, result["errorText"]))
        with self._cond:
            self._wait(lambda: self._counts.get("Page.loadEventFired", 0) > loads, timeout,
                       "loading " + url)

    def eval(self, expression, timeout=None):
        """The value of a JavaScript expression (promises awaited), as JSON data."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True, "userGesture": True}, timeout)
        if "exceptionDetails" in result:
            raise BrowserError("JavaScript %r threw: %s" % (expression, _exception(result["exceptionDetails"])))
        return result["result"].get("value")

    def wait_for(self, expression, timeout=10):
        """Polls a JavaScript expression (promises awaited) until it is truthy in
        JavaScript's sense and returns its value (True for what JSON cannot
        carry, such as an element). An expression that throws counts as not yet."""
        probe = "(async () => { const v = await (\n%s\n); return {ok: !!v, v}; })()" % expression
        deadline = time.monotonic() + timeout * TIMEOUT_SCALE
        pause = 0.01
        while True:
            try:
                value = self.eval(probe)
                if value["ok"]:
                    return value.get("v") or True
                last = "its last value was %s" % json.dumps(value.get("v"))
            except BrowserError as e:
                if self._dead:
                    raise
                last = str(e)
            if time.monotonic() >= deadline:
                break
            time.sleep(min(pause, max(0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.1)
        try:
            body = self.eval("document.body ? document.body.innerText : '(no body)'", 2)
        except BrowserError as e:
            body = "(unavailable: %s)" % e
        raise BrowserError("timed out after %.1f s waiting for %s; %s\nJavaScript errors: %s\npage text: %s"
                           % (timeout * TIMEOUT_SCALE, expression, last, self.errors or "none", str(body)[:1500]))

    def _element(self, selector, action):
        """Runs `action` (JavaScript that uses `el`) on the element selector
        matches; a string it returns is an error message."""
        value = self.eval("(() => { const el = document.querySelector(%s); if (!el) return null; %s })()"
                          % (json.dumps(selector), action))
        if value is None:
            raise BrowserError("no element matches %r" % selector)
        if isinstance(value, str):
            raise BrowserError("%s: %s" % (selector, value))
        return value

    def click(self, selector):
        """A real mouse click in the middle of the element, scrolled into view;
        refused when something else covers that point."""
        x, y = self._element(selector, """
            el.scrollIntoView({block: "center", inline: "center"});
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height) return "cannot click, it has no size";
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const hit = document.elementFromPoint(x, y);
            if (!hit || !el.contains(hit))
                return "cannot click, covered by " + (hit ? hit.outerHTML.slice(0, 100) : "nothing");
            return [x, y];""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "clickCount": 1,
                                                   "button": "none" if kind == "mouseMoved" else "left"})

    def type(self, selector, text, replace=True):
        """Focuses the element and types text into it (input events fire as for
        a user); replace=True empties a form field first."""
        self._element(selector, """
            if (%s && "value" in el) el.value = "";
            el.focus();
            return document.activeElement === el || "cannot type, it takes no focus";""" % json.dumps(replace))
        self.send("Input.insertText", {"text": text})

    def press(self, key):
        """Presses and releases a key in the focused element: a name from KEYS
        (Enter submits a form) or one character."""
        if key in KEYS:
            code, vk, text = KEYS[key]
        elif len(key) == 1:
            code = "Key" + key.upper() if key.isalpha() else "Digit" + key if key.isdigit() else ""
            vk, text = ord(key.upper()), key
        else:
            raise BrowserError("unknown key %r" % key)
        event = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        self.send("Input.dispatchKeyEvent", dict(event, type="keyDown", text=text) if text
                  else dict(event, type="rawKeyDown"))
        self.send("Input.dispatchKeyEvent", dict(event, type="keyUp"))

    def set_viewport(self, width, height, mobile=False, scale=1):
        """Emulates a screen: CSS pixels, scale is the device pixel ratio. With
        mobile=True a page without <meta name=viewport> lays out 980 px wide."""
        self.size = (width, height)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": scale, "mobile": mobile})

    def screenshot(self, path, full_page=False):
        """Writes a PNG of the viewport, or of the whole page, to path."""
        params = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "scale": 1,
                                                            "width": size["width"], "height": size["height"]})
        data = base64.b64decode(self.send("Page.captureScreenshot", params, 30)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return path
