#!/usr/bin/env python3
"""End-to-end test of `tally limits` against a real tally-api on the stack.

The test makes its own PostgreSQL database (named after it and the process
id), migrates it with `tally migrate`, writes a tenant, two budgets and the
counted usage of their month straight into it (tenants, budgets,
limit_usage: schemas/postgres/008_limits.sql), starts tally-api on an
ephemeral loopback port, and checks what the CLI prints and exits with.
The API's log is left beside the test (<cwd>/limits_cli_<pid>-api.log).

Needs the stack (scripts/stack up; eval "$(scripts/stack env)") and psql.

usage: test_limits_cli.py PATH/TO/tally PATH/TO/tally-api [unittest options]
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from cli_itest import FailsMixin, run_cli  # noqa: E402

TALLY = None
TALLY_API = None
KEY = "limits-cli-admin-key-0123456789"
NAME = "limits_cli_%d" % os.getpid()
DB = "itest_" + NAME
TENANT = "acme-limits"
AT = "2026-03-18T12:00:00-03:00"  # March 2026 in the tenant's zone (UTC-3)

SETUP_SQL = """
INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)
  VALUES ('{t}', 'Acme', 'active', 'America/Sao_Paulo', now(), 0);
INSERT INTO budgets (tenant_id, budget_id, kind, period, token_limit, brl_limit, thresholds,
                     pause_at_limit, ev_time, ev_offset)
  VALUES ('{t}', 'mensal', 'tokens', 'monthly', 1000, NULL, '{{80,90,100}}', true, now(), 0),
         ('{t}', 'reais', 'brl', 'monthly', NULL, 50.5, '{{25,50}}', false, now(), 0);
-- the whole tenant ('') and one user; February is another period
INSERT INTO limit_usage (tenant_id, user_id, day, requests, tokens, brl, unpriced) VALUES
  ('{t}', '', '2026-02-27', 9, 5000, 99, 0),
  ('{t}', '', '2026-03-10', 4, 600, 12.5, 0),
  ('{t}', '', '2026-03-15', 3, 450, 3.25, 1),
  ('{t}', 'ana', '2026-03-10', 4, 600, 12.5, 0),
  ('{t}', 'ana', '2026-03-15', 3, 450, 3.25, 1);
""".format(t=TENANT)


def pg_url_with_db(url, db):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + db))


def psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   capture_output=True, timeout=60)


class LimitsCliTest(FailsMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        base_pg = os.environ.get("TALLY_PG_URL", "postgresql://127.0.0.1:5432/tally")
        cls.admin_pg = pg_url_with_db(base_pg, "postgres")
        cls.pg = pg_url_with_db(base_pg, DB)
        psql(cls.admin_pg, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        psql(cls.admin_pg, "CREATE DATABASE %s" % DB)
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
        cls.env.update({
            "TALLY_PG_URL": cls.pg,
            "TALLY_MONGO_URL": pg_url_with_db(
                os.environ.get("TALLY_MONGO_URL", "mongodb://127.0.0.1:27017/tally"), DB),
            "TALLY_KAFKA_BROKERS": os.environ.get("TALLY_KAFKA_BROKERS", "127.0.0.1:9092"),
            "TALLY_TOPIC_EVENTS": "itest." + NAME + ".events",
        })
        subprocess.run([TALLY, "migrate"], env=cls.env, check=True, capture_output=True,
                       timeout=120)
        psql(cls.pg, SETUP_SQL)

        cls.log_path = os.path.join(os.getcwd(), NAME + "-api.log")
        cls.log = open(cls.log_path, "w")
        cls.api = subprocess.Popen(
            [TALLY_API, "--http-addr", "127.0.0.1:0", "--threads", "2"],
            env=dict(cls.env, TALLY_ADMIN_KEY=KEY), stdout=cls.log, stderr=cls.log)
        port = None
        for _ in range(500):  # 10 s
            time.sleep(0.02)
            with open(cls.log_path) as log:
                ports = re.findall(r" port=(\d+)", log.read())
            if ports and int(ports[-1]) > 0:
                port = int(ports[-1])
                break
            if cls.api.poll() is not None:
                break
        if not port:
            cls.tearDownClass()
            raise RuntimeError("tally-api did not start; see " + cls.log_path)
        cls.addr = "127.0.0.1:%d" % port

    @classmethod
    def tearDownClass(cls):
        if cls.api.poll() is None:
            cls.api.send_signal(signal.SIGTERM)
            try:
                cls.api.wait(10)
            except subprocess.TimeoutExpired:
                cls.api.kill()
                cls.api.wait()
        cls.log.close()
        psql(cls.admin_pg, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)

    def run_cli(self, *args, key=KEY, api=True):
        return run_cli(TALLY, "limits", args, self.env, self.addr, key, api)

    # --- success -------------------------------------------------------

    def test_table(self):
        rc, out, err = self.run_cli(TENANT, "--at", AT)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        lines = out.splitlines()
        standing = {}
        reasons = []
        for line in lines[:lines.index("")]:
            label, value = re.split(r"\s{2,}", line, maxsplit=1)
            if label == "reason":
                reasons.append(value)
            else:
                standing[label] = value
        self.assertEqual(standing, {
            "tenant": TENANT, "timezone": "America/Sao_Paulo", "user": "(whole tenant)",
            "at": "2026-03-18T12:00:00-03:00", "pending events": standing["pending events"],
            "ALLOWED": "no"})
        self.assertEqual(reasons, ["budget:mensal:tokens paused: 1050 of 1000 tokens"])

        header = next(l for l in lines if l.startswith("limit_id"))
        self.assertEqual(header.split(), ["limit_id", "user", "period", "used", "limit",
                                          "remaining", "percent", "reached", "paused"])
        rule = lines[lines.index(header) + 1]
        self.assertTrue(set(rule) <= {"-", " "}, rule)
        tokens = next(l for l in lines if l.startswith("budget:mensal:tokens"))
        self.assertEqual(tokens.split(), ["budget:mensal:tokens", "(tenant)", "monthly",
                                          "2026-03-01", "1050", "1000", "0", "105.00",
                                          "80,90,100", "yes"])
        brl = next(l for l in lines if l.startswith("budget:reais:brl"))
        self.assertEqual(brl.split(), ["budget:reais:brl", "(tenant)", "monthly", "2026-03-01",
                                       "15.750000", "50.500000", "34.750000", "31.19", "25",
                                       "no"])
        # numbers right-aligned, text left-aligned
        self.assertEqual(header.index("percent") + len("percent"),
                         tokens.index("105.00") + len("105.00"), out)
        self.assertEqual(header.index("percent") + len("percent"),
                         brl.index("31.19") + len("31.19"), out)
        self.assertEqual(header.index("reached"), tokens.index("80,90,100"), out)

    def test_a_new_period_is_allowed(self):
        # a period's usage is the sum of its days: April has none yet
        rc, out, err = self.run_cli(TENANT, "--at", "2026-04-02T12:00:00-03:00")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^ALLOWED\s+yes$")
        self.assertNotIn("reason", out)
        tokens = next(l for l in out.splitlines() if l.startswith("budget:mensal:tokens"))
        self.assertEqual(tokens.split()[2:], ["monthly", "2026-04-01", "0", "1000", "1000",
                                              "0.00", "-", "no"])

    def test_user_and_at_are_sent(self):
        rc, out, err = self.run_cli(TENANT, "--user", "ana", "--at", AT)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^user\s+ana$")
        self.assertRegex(out, r"(?m)^ALLOWED\s+no$")

    def test_json_parses(self):
        rc, out, err = self.run_cli(TENANT, "--at", AT, "-f", "json")
        self.assertEqual(rc, 0, err)
        self.assertIn('\n  "limits": [\n', out)  # pretty, as `tally report -f json`
        doc = json.loads(out)
        self.assertEqual(doc["tenant_id"], TENANT)
        self.assertIs(doc["allowed"], False)
        limits = {l["limit_id"]: l for l in doc["limits"]}
        self.assertEqual(limits["budget:mensal:tokens"]["used"], 1050)
        self.assertIs(limits["budget:mensal:tokens"]["paused"], True)
        self.assertEqual(limits["budget:reais:brl"]["used"], 15.75)
        self.assertIn('"limit": 50.5,', out)  # not 50.500000000000001

    def test_defaults_come_from_the_environment(self):
        rc, out, err = self.run_cli(TENANT, "--at", AT, api=False)  # TALLY_HTTP_ADDR
        self.assertEqual(rc, 0, err)
        self.assertIn("budget:mensal:tokens", out)

    # --- the API says no -------------------------------------------------

    def test_unknown_tenant(self):
        self.assert_fails(["nobody-here"], 1, "tenant not found", "HTTP 404",
                          "/v1/tenants/nobody-here/limits")

    def test_bad_key(self):
        self.assert_fails([TENANT], 1, "HTTP 401", "TALLY_API_KEY", key="nope")

    def test_bad_at(self):
        self.assert_fails([TENANT, "--at", "yesterday"], 1, "at: must be an RFC 3339 time",
                          "HTTP 400")

    def test_api_not_there(self):
        self.assert_fails([TENANT, "--api", "http://127.0.0.1:1"], 1,
                          "cannot reach the Tally API at http://127.0.0.1:1", api=False)

    # --- bad usage -------------------------------------------------------

    def test_usage_errors(self):
        cases = [
            ([], "exactly one TENANT"),
            (["a", "b"], "exactly one TENANT"),
            ([TENANT, "--format", "csv"], "--format"),
            ([TENANT, "--timeout", "0"], "--timeout"),
            ([TENANT, "--user", ""], "--user"),
            ([TENANT, "--bogus"], "usage: tally limits"),
            ([TENANT, "--api", "http://"], "--api"),
        ]
        for args, frag in cases:
            with self.subTest(args=args):
                self.assert_fails(args, 2, frag)
        self.assert_fails([TENANT], 2, "no API key", key=None)

    def test_help(self):
        rc, out, _ = self.run_cli("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: tally limits TENANT", out)
        self.assertIn("--api URL", out)


if __name__ == "__main__":
    if len(sys.argv) < 3 or not all(os.access(p, os.X_OK) for p in sys.argv[1:3]):
        sys.exit(__doc__.strip().splitlines()[-1])
    TALLY_API = os.path.abspath(sys.argv.pop(2))
    TALLY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
