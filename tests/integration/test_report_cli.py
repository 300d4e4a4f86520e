#!/usr/bin/env python3
"""End-to-end test of `tally report` against a throwaway HTTP responder.

The responder (Python stdlib, in this process, on an ephemeral loopback port)
plays the report service of CONTRACT.md §3 with fixed answers, and records
every request, so the test checks both sides: what the CLI asks (path, query
encoding, headers) and what it prints and exits with for each kind of answer.
It needs no server of the stack, so it runs anywhere the `tally` binary does.

usage: test_report_cli.py PATH/TO/tally [unittest options]
"""
import http.server
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from cli_itest import FailsMixin, run_cli  # noqa: E402

TALLY = None
KEY = "test-key-123"

REPORT = {
    "tenant_id": "ixc-distribuidor-42",
    "timezone": "America/Sao_Paulo",
    "from": "2026-03-01T00:00:00-03:00",
    "to": "2026-04-01T00:00:00-03:00",
    "granularity": "day",
    "group_by": ["user"],
    "rows": [
        {"period_start": "2026-03-01T00:00:00-03:00", "group": {"user": "João"},
         "requests": 1200, "errors": 3, "input_tokens": 480000, "cached_tokens": 12000,
         "output_tokens": 260000, "audio_seconds": 0, "cost_usd": 0.23, "cost_brl": 1.2466,
         "time_saved_minutes": 390.0, "likes": 40, "dislikes": 2},
        {"period_start": "2026-03-02T00:00:00-03:00", "group": {"user": "Conceição"},
         "requests": 7, "errors": 0, "input_tokens": 2800, "cached_tokens": 0,
         "output_tokens": 1500, "audio_seconds": 0, "cost_usd": 0.00132, "cost_brl": None,
         "time_saved_minutes": 2.25, "likes": 1, "dislikes": 0},
    ],
    "totals": {"requests": 1207, "errors": 3, "input_tokens": 482800, "cached_tokens": 12000,
               "output_tokens": 261500, "audio_seconds": 0, "cost_usd": 0.23132,
               "cost_brl": None, "time_saved_minutes": 392.25, "likes": 41, "dislikes": 2},
}
REPORT_BODY = json.dumps(REPORT, ensure_ascii=False).encode()
CSV_BODY = ("user,period_start,requests,errors,input_tokens,cached_tokens,output_tokens,"
            "audio_seconds,cost_usd,cost_brl,time_saved_minutes,likes,dislikes\r\n"
            "João,2026-03-01T00:00:00-03:00,1200,3,480000,12000,260000,0,0.230000,1.246600,"
            "390.000000,40,2\r\n").encode()


class Responder(http.server.BaseHTTPRequestHandler):
    """Answers by tenant id: nobody → 404, boom → 500 (plain text), evil →
    400 with control characters, garbage → 200 that is not JSON, slow → the
    report after 2.5 s;
    anyone else → the report (or CSV when asked)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def answer(self, status, body, ctype="application/json"):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):  # an error: an RFC 9457 problem, as tally-api answers
            title = http.HTTPStatus(status).phrase
            body = json.dumps({"type": "about:blank", "title": title, "status": status,
                               "detail": body, "param": None, "request_id": "r1"}).encode()
            ctype = "application/problem+json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def do_GET(self):
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")
        if self.headers.get("Authorization") != "Bearer " + KEY:
            return self.answer(401, "missing or unknown API key")
        if len(parts) != 5 or parts[:3] != ["", "v1", "tenants"] or parts[4] != "usage":
            return self.answer(404, "no such route")
        tenant = urllib.parse.unquote(parts[3])
        if tenant == "nobody":
            return self.answer(404, "tenant not found")
        if tenant == "boom":
            return self.answer(500, b"Internal Server Error\nTraceback...", "text/plain")
        if tenant == "evil":
            return self.answer(400, "from: bad\u001b[31m date\nsecond line")
        if tenant == "garbage":
            return self.answer(200, b"<html>not a report</html>", "text/html")
        if tenant == "slow":
            time.sleep(2.5)
        if "planet" in query.get("group_by", [""])[0]:
            return self.answer(400, "group_by: unknown group 'planet'")
        if query.get("format") == ["csv"]:
            return self.answer(200, CSV_BODY, "text/csv; charset=utf-8")
        return self.answer(200, REPORT_BODY)


class ReportCliTest(FailsMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Responder)
        cls.server.daemon_threads = True
        cls.server.requests = []
        cls.addr = "127.0.0.1:%d" % cls.server.server_address[1]
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        self.server.requests.clear()

    def run_cli(self, *args, key=KEY, api=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
        return run_cli(TALLY, "report", args, env, self.addr, key, api)

    # --- success -------------------------------------------------------

    def test_table(self):
        rc, out, err = self.run_cli("ixc-distribuidor-42", "--granularity", "day",
                                    "--group-by", "user")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        lines = out.splitlines()
        self.assertIn("Usage of ixc-distribuidor-42 (America/Sao_Paulo)", lines[0])
        header = next(l for l in lines if l.startswith("period_start"))
        self.assertEqual(header.split(), [
            "period_start", "user", "requests", "errors", "input_tokens", "cached_tokens",
            "output_tokens", "cost_usd", "cost_brl", "time_saved_minutes", "likes", "dislikes"])
        joao = next(l for l in lines if "João" in l)
        self.assertEqual(joao.split(), ["2026-03-01", "João", "1200", "3", "480000", "12000",
                                        "260000", "0.23000", "1.2466", "390.00", "40", "2"])
        conceicao = next(l for l in lines if "Conceição" in l)
        self.assertEqual(conceicao.split()[8], "-")  # no FX rate: a dash, never 0
        total = lines[-1]
        self.assertEqual(total.split(), ["total", "1207", "3", "482800", "12000", "261500",
                                         "0.23132", "-", "392.25", "41", "2"])
        # aligned in code points, not bytes
        self.assertEqual({len(l) for l in (header, joao, conceicao, total)}, {len(header)})

    def test_request_shape(self):
        rc, _, err = self.run_cli("ixc dist/é", "--from", "2026-03-01T00:00:00+01:00",
                                  "--to", "2026-03-08", "-g", "week", "-G", "model,user")
        self.assertEqual(rc, 0, err)
        [req] = self.server.requests
        path, _, query = req["path"].partition("?")
        self.assertEqual(path, "/v1/tenants/ixc%20dist%2F%C3%A9/usage")
        self.assertEqual(query.split("&"), [
            "from=2026-03-01T00%3A00%3A00%2B01%3A00", "to=2026-03-08", "granularity=week",
            "group_by=model%2Cuser"])
        self.assertEqual(req["headers"]["Authorization"], "Bearer " + KEY)
        self.assertEqual(req["headers"]["Accept"], "application/json")

    def test_hour_and_filters(self):
        rc, _, err = self.run_cli("acme", "-g", "hour", "--filter", "model=a/b,c",
                                  "--filter", "user=u 1")
        self.assertEqual(rc, 0, err)
        [req] = self.server.requests
        _, _, query = req["path"].partition("?")
        self.assertEqual(query.split("&"), [
            "granularity=hour", "filter[model]=a%2Fb%2Cc", "filter[user]=u%201"])

    def test_defaults_come_from_the_environment(self):
        # no --api, no --key: TALLY_HTTP_ADDR (host:port) and TALLY_API_KEY
        rc, out, err = self.run_cli("acme", api=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("João", out)
        [req] = self.server.requests
        self.assertEqual(req["path"], "/v1/tenants/acme/usage")

    def test_key_flag_wins(self):
        rc, _, err = self.run_cli("acme", "--key", KEY, key="wrong")
        self.assertEqual(rc, 0, err)

    def test_json_is_pretty_and_exact(self):
        rc, out, err = self.run_cli("acme", "--format", "json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), REPORT)
        self.assertIn('\n  "rows": [\n', out)
        self.assertIn('"cost_brl": 1.2466,', out)  # not 1.2466000000000001
        self.assertIn('"user": "João"', out)  # UTF-8 kept, not \u escapes

    def test_csv_passes_through(self):
        rc, out, err = self.run_cli("acme", "-f", "csv", "-G", "user")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.encode(), CSV_BODY)
        [req] = self.server.requests
        self.assertIn("format=csv", req["path"])
        self.assertEqual(req["headers"]["Accept"], "text/csv")

    def test_output_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "report.json")
            rc, out, err = self.run_cli("acme", "-f", "json", "--output", path)
            self.assertEqual((rc, out), (0, ""), err)
            with open(path, encoding="utf-8") as f:
                self.assertEqual(json.load(f), REPORT)
            # a failed pull leaves the previous file alone
            rc, _, _ = self.run_cli("nobody", "-f", "json", "--output", path)
            self.assertEqual(rc, 1)
            with open(path, encoding="utf-8") as f:
                self.assertEqual(json.load(f), REPORT)
            rc, _, err = self.run_cli("acme", "-o", os.path.join(d, "no", "such", "dir"))
            self.assertEqual(rc, 1)
            self.assertIn("cannot open", err)

    # --- the API says no -------------------------------------------------

    def test_unknown_tenant(self):
        self.assert_fails(["nobody"], 1, "tenant not found", "HTTP 404")

    def test_bad_key(self):
        self.assert_fails(["acme"], 1, "missing or unknown API key", "HTTP 401", "TALLY_API_KEY",
                          key="nope")

    def test_bad_parameter(self):
        self.assert_fails(["acme", "--group-by", "planet"], 1,
                          "group_by: unknown group 'planet'", "HTTP 400")

    def test_server_error_without_json(self):
        err = self.assert_fails(["boom"], 1, "HTTP 500", "Internal Server Error")
        self.assertNotIn("Traceback", err)  # the first line only

    def test_error_text_cannot_drive_the_terminal(self):
        err = self.assert_fails(["evil"], 1, "from: bad?[31m date (HTTP 400")
        self.assertNotIn("\x1b", err)
        self.assertNotIn("second line", err)

    def test_success_that_is_not_json(self):
        self.assert_fails(["garbage"], 1, "not JSON")

    def test_timeout(self):
        # the responder answers after 2.5 s: a success here would mean no timeout
        self.assert_fails(["slow", "--timeout", "0.5"], 1, "within 0.5 s")

    def test_connection_refused(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = "http://127.0.0.1:%d" % port
        self.assert_fails(["acme", "--api", url + "/"], 1, "cannot reach the Tally API at " + url,
                          url + "/v1/tenants/acme/usage")

    # --- bad usage -------------------------------------------------------

    def test_usage_errors(self):
        cases = [
            ([], "exactly one TENANT"),
            (["a", "b"], "exactly one TENANT"),
            (["acme", "--granularity", "fortnight"], "--granularity"),
            (["acme", "--filter", "model"], "--filter"),
            (["acme", "--filter", "=a"], "--filter"),
            (["acme", "--format", "xml"], "--format"),
            (["acme", "--timeout", "soon"], "--timeout"),
            (["acme", "--timeout", "0"], "--timeout"),
            (["acme", "--bogus"], "usage: tally report"),
            (["acme", "--api", "http://"], "--api"),
        ]
        for args, frag in cases:
            with self.subTest(args=args):
                self.assert_fails(args, 2, frag)
        self.assert_fails(["acme"], 2, "no API key", key=None)
        self.assertEqual(self.server.requests, [])  # none of them reached the API

    def test_help(self):
        rc, out, _ = self.run_cli("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: tally report TENANT", out)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit(__doc__.strip().splitlines()[-1])
    TALLY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
