"""The dashboard (cyray.dashboard), served by the GCS: its JSON API answers the state API's
rows for the tasks, actors and nodes a driver made; /metrics is Prometheus text with tasks
by state; a joining driver reports the cluster's dashboard; nothing listens unless asked;
off loopback every request needs the cluster token; the page, in headless Chromium,
fills its tables (a screenshot is kept in the test's tmp dir); and `cyray start --head
--include-dashboard` serves it."""

import http.client
import json
import os
import shutil
import subprocess
import sys

import psutil
import pytest
from conftest import (cyray_processes, kill_processes, process_or_none, run_driver_script,
                      wait_for, wait_until_gone)

import cyray

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def http_get(hostport, path, headers=None):
    """(status, headers, body) of GET http://hostport/path (no proxy, no redirects)."""
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def get_json(hostport, path, headers=None):
    status, _, body = http_get(hostport, path, headers)
    assert status == 200, (path, status, body[:500])
    return json.loads(body)


def _shutdown():
    if cyray.is_initialized():
        cyray.shutdown()


@pytest.fixture(scope="module")
def dashboard():
    """A cluster with the dashboard on a free port, and a few tasks and an actor that ran:
    yields (context, the actor's ID)."""
    _shutdown()
    ctx = cyray.init(num_cpus=2, include_dashboard=True, dashboard_port=0)
    try:
        @cyray.remote
        def dash_square(x):
            return x * x

        @cyray.remote
        def dash_fail():
            raise ValueError("dash failure")

        @cyray.remote
        class DashCounter:
            def bump(self):
                return 1

        counter = DashCounter.options(name="dash-counter").remote()
        assert cyray.get([dash_square.remote(i) for i in range(5)]) == [0, 1, 4, 9, 16]
        assert cyray.get(counter.bump.remote()) == 1
        with pytest.raises(cyray.exceptions.RayTaskError):
            cyray.get(dash_fail.remote())
        yield ctx, counter._actor_id.hex()
    finally:
        cyray.shutdown()


def _finished_tasks(url):
    rows = get_json(url, "/api/tasks?limit=1000")["result"]
    names = {(row["name"], row["state"]) for row in rows}
    wanted = {("dash_square", "FINISHED"), ("dash_fail", "FAILED"),
              ("DashCounter.bump", "FINISHED")}
    return rows if wanted <= names else None


def test_json_api_answers_the_state_api_rows(dashboard):
    from cyray.util.state import TaskState, list_actors

    ctx, actor_id = dashboard
    url = ctx.dashboard_url
    assert url.startswith("127.0.0.1:") and ctx.address_info["webui_url"] == url
    rows = wait_for(lambda: _finished_tasks(url), 20, 0.2, "the tasks in /api/tasks")
    assert set(rows[0]) == set(TaskState.list_columns())
    answer = get_json(url, "/api/tasks?state=failed")
    assert answer["state_counts"]["FAILED"] == 1 and answer["state_counts"]["FINISHED"] >= 7
    failed = answer["result"]
    assert [row["name"] for row in failed] == ["dash_fail"]
    assert failed[0]["error_type"] == "TASK_EXECUTION_EXCEPTION"
    assert "Traceback" in failed[0]["error_message"]
    assert "dash failure" in failed[0]["error_message"]
    limited = get_json(url, "/api/tasks?limit=2")
    assert len(limited["result"]) == 2 and limited["total"] >= 8
    summary = get_json(url, "/api/tasks/summary")["cluster"]["summary"]
    assert summary["dash_square"]["state_counts"] == {"FINISHED": 5}

    # Actors: exactly the state API's rows.
    actors = get_json(url, "/api/actors")["result"]
    mine = [a for a in actors if a["actor_id"] == actor_id]
    assert mine and mine[0]["class_name"] == "DashCounter" and mine[0]["state"] == "ALIVE"
    assert mine[0]["name"] == "dash-counter"
    assert mine[0] == list_actors(filters=[("actor_id", "=", actor_id)], detail=True)[0].asdict()

    cluster = get_json(url, "/api/cluster")
    assert cluster["gcs_address"] == ctx.address_info["gcs_address"]
    [node] = cluster["nodes"]
    assert node["state"] == "ALIVE" and node["is_head_node"]
    assert node["node_id"] == ctx.address_info["node_id"]
    assert node["resources_total"]["CPU"] == 2 and "CPU" in node["resources_available"]
    assert node["object_store"]["capacity_bytes"] > 0 and node["num_workers"] >= 1
    assert cluster["resources_total"]["CPU"] == 2

    jobs = get_json(url, "/api/jobs")["result"]
    assert any(job["status"] == "RUNNING" for job in jobs)
    assert get_json(url, "/api/workers")["total"] >= 2  # the driver and a worker
    assert "result" in get_json(url, "/api/objects")
    logs = get_json(url, "/api/logs")["result"]
    assert "raylet.out" in logs["raylet"]
    tail = get_json(url, "/api/logs/file?filename=raylet.err&tail=5")
    assert tail["filename"] == "raylet.err" and len(tail["lines"]) <= 5
    timeline = get_json(url, "/api/timeline")
    assert any(event["name"] == "dash_square" and event["ph"] == "X" for event in timeline)
    status, headers, body = http_get(url, "/api/timeline?download=1")
    assert status == 200 and "attachment" in headers["Content-Disposition"]

    # Bad parameters; a page from elsewhere (DNS rebinding) gets nothing on loopback.
    assert http_get(url, "/api/tasks?limit=many")[0] == 400
    assert http_get(url, "/api/logs/file?filename=../../etc/passwd")[0] == 400
    assert http_get(url, "/api/cluster", {"Host": "attacker.example"})[0] == 403


def test_metrics_are_prometheus_text_with_tasks_by_state(dashboard):
    from prometheus_client.parser import text_string_to_metric_families

    ctx, _ = dashboard
    url = ctx.dashboard_url
    wait_for(lambda: _finished_tasks(url), 20, 0.2, "the tasks in /api/tasks")
    status, headers, body = http_get(url, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)

    def value(name, **labels):
        found = [s.value for s in samples[name]
                 if all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(found) == 1, (name, labels, samples.get(name))
        return found[0]

    assert value("cyray_tasks", State="FINISHED") >= 7  # 5 squares, bump, the actor
    assert value("cyray_tasks", State="FAILED") == 1
    assert value("cyray_tasks", State="RUNNING") == 0
    assert value("cyray_actors", State="ALIVE") == 1
    assert value("cyray_nodes", State="ALIVE") == 1
    node = ctx.address_info["node_id"]
    assert value("cyray_node_resources_total", NodeId=node, Resource="CPU") == 2
    assert value("cyray_object_store_capacity_bytes", NodeId=node) > 0
    assert value("cyray_object_store_used_bytes", NodeId=node) >= 0
    assert all(s.value == 0 for s in samples["cyray_metrics_scrape_errors"])


def test_a_joining_driver_reports_the_dashboard(dashboard, tmp_path):
    ctx, _ = dashboard
    run = run_driver_script(tmp_path, f"""
        import json
        import cyray
        ctx = cyray.init(address={ctx.address_info["gcs_address"]!r}, include_dashboard=True)
        print("URL:", json.dumps(ctx.dashboard_url))
        cyray.shutdown()
    """, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f'URL: "{ctx.dashboard_url}"' in run.stdout


def test_the_page_in_headless_chromium(dashboard, tmp_path):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian's chromium and "
                    "chromium-driver; scripts/bootstrap.sh installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ctx, actor_id = dashboard
    wait_for(lambda: _finished_tasks(ctx.dashboard_url), 20, 0.2, "the tasks in /api/tasks")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--no-proxy-server", "--window-size=1400,2400",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(f"http://{ctx.dashboard_url}/")
        wait = WebDriverWait(browser, 30, poll_frequency=0.2)

        def text_of(table_id):
            return browser.find_element(By.ID, table_id).text

        wait.until(lambda _: "dash_square" in text_of("tasks-table")
                   and "dash_fail" in text_of("tasks-table"))
        wait.until(lambda _: "DashCounter" in text_of("actors-table"))
        node_id = ctx.address_info["node_id"]
        wait.until(lambda _: browser.find_elements(
            By.CSS_SELECTOR, f'#nodes-table tr[data-node-id="{node_id}"]'))
        node_row = browser.find_element(By.CSS_SELECTOR, f'tr[data-node-id="{node_id}"]')
        assert node_id[:12] in node_row.text and "ALIVE" in node_row.text
        assert "CPU" in node_row.text
        tasks = text_of("tasks-table")
        assert "FINISHED" in tasks and "FAILED" in tasks
        assert "DashCounter" in text_of("actors-table") and "ALIVE" in text_of("actors-table")
        # A failed task's row opens on its traceback.
        failed_row = next(row for row in browser.find_elements(By.CSS_SELECTOR,
                                                                "#tasks-table tr.clickable")
                          if "dash_fail" in row.text)
        failed_row.click()
        wait.until(lambda _: "dash failure" in text_of("tasks-table"))
        assert "Traceback" in text_of("tasks-table")
        wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#timeline .track > div"))
        # The log viewer shows a file picked from the node's list.
        wait.until(lambda _: any(item.text == "raylet.err" for item in
                                 browser.find_elements(By.CSS_SELECTOR, "#log-files li")))
        next(item for item in browser.find_elements(By.CSS_SELECTOR, "#log-files li")
             if item.text == "raylet.err").click()
        wait.until(lambda _: "raylet" in browser.find_element(By.ID, "log-view").text)
        assert not browser.find_element(By.ID, "banner").is_displayed()
        screenshot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.exists() and screenshot.stat().st_size > 10_000
    finally:
        browser.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


# ---- fresh clusters (after the module's cluster) ---------------------------------------

def _listening_ports(proc):
    return {c.laddr.port for c in proc.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN}


def test_off_by_default(tmp_path):
    _shutdown()
    with pytest.raises(ValueError, match="include_dashboard=True"):
        cyray.init(num_cpus=1, dashboard_port=0)
    assert not cyray.is_initialized() and not cyray_processes()
    ctx = cyray.init(num_cpus=1)
    try:
        assert ctx.dashboard_url is None and ctx.address_info["webui_url"] is None
        [gcs] = [p for p in cyray_processes() if "cyray.gcs.server" in " ".join(p.cmdline())]
        gcs_port = int(ctx.address_info["gcs_address"].rsplit(":", 1)[1])
        assert _listening_ports(gcs) == {gcs_port}
        assert not os.path.exists(os.path.join(ctx.address_info["session_dir"],
                                               "dashboard_port"))
        # A driver that joins cannot start one: it says so instead of ignoring it.
        run = run_driver_script(tmp_path, f"""
            import cyray
            try:
                cyray.init(address={ctx.address_info["gcs_address"]!r}, include_dashboard=True)
            except ValueError as e:
                print("REFUSED:", e)
            else:
                print("JOINED")
        """, timeout=60)
        assert "REFUSED:" in run.stdout and "runs no dashboard" in run.stdout, run.stderr
    finally:
        cyray.shutdown()


def test_off_loopback_every_request_needs_the_token():
    _shutdown()
    ctx = cyray.init(num_cpus=1, include_dashboard=True, dashboard_host="127.0.0.2",
                     dashboard_port=0)
    try:
        url = ctx.dashboard_url
        assert url.startswith("127.0.0.2:")
        with open(os.path.join(ctx.address_info["session_dir"], "auth_token")) as f:
            token = f.read().strip()
        for path in ("/", "/api/cluster", "/metrics", "/static/app.js"):
            status, headers, body = http_get(url, path)
            assert status == 401 and b"cluster token" in body, (path, status)
        assert http_get(url, "/api/cluster", {"Authorization": "Bearer wrong"})[0] == 401
        assert http_get(url, "/api/cluster?token=wrong")[0] == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert get_json(url, "/api/cluster", bearer)["nodes"][0]["state"] == "ALIVE"
        assert http_get(url, "/metrics", bearer)[0] == 200
        # ?token= once: a redirect without it that sets an HttpOnly cookie.
        status, headers, _ = http_get(url, f"/?token={token}")
        assert status == 303 and "token" not in headers["Location"]
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        name_value = cookie.split(";", 1)[0]
        assert http_get(url, "/", {"Cookie": name_value})[0] == 200
        assert http_get(url, "/api/tasks", {"Cookie": name_value})[0] == 200
        assert http_get(url, "/api/tasks", {"Cookie": name_value + "x"})[0] == 401
    finally:
        cyray.shutdown()


def test_cyray_start_head_include_dashboard():
    """`cyray start --head --include-dashboard` prints the URL; the page answers. Its
    processes are ended here by their PIDs (not `cyray stop`, which ends every cluster
    the CLI started on this machine)."""
    _shutdown()
    started = subprocess.run(
        [sys.executable, "-m", "cyray.scripts.cli", "start", "--head", "--num-cpus", "1",
         "--include-dashboard", "--dashboard-port", "0"],
        capture_output=True, text=True, timeout=60)
    session = next((word for word in started.stdout.split() if "session_" in word), None)
    pids = []
    if session:
        with open(os.path.join(session, "cli_pids.json")) as f:
            pids = json.load(f)
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.split("dashboard: http://")[1].split("/")[0]
        assert url.startswith("127.0.0.1:")
        status, _, body = http_get(url, "/")
        assert status == 200 and b"cyray dashboard" in body
        cluster = get_json(url, "/api/cluster")
        assert cluster["gcs_address"] in started.stdout
    finally:
        procs = [p for p in map(process_or_none, pids) if p is not None]
        for proc in procs:
            proc.terminate()
        kill_processes(wait_until_gone(procs, 10))
        if session:
            shutil.rmtree(session, ignore_errors=True)
