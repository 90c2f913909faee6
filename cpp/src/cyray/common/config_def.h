// Every tunable of cyray, in one place: CYRAY_CONFIG(type, name, default, doc).
// Each knob can be overridden by the environment variable CYRAY_<name>, and is
// readable from C++ (CyrayConfig::Instance().name()) and from Python
// (cyray._raylet.config()). Types: int64_t, double, bool, std::string.
// No include guard: this file is an X-macro table, included several times.

CYRAY_CONFIG(std::string, log_level, "info",
             "Lowest level that C++ components log: debug, info, warning or error.")
CYRAY_CONFIG(int64_t, max_direct_call_object_size, 100 * 1024,
             "Task returns and puts up to this many bytes travel inline; larger go to the store.")
CYRAY_CONFIG(int64_t, max_grpc_message_size, 512 * 1024 * 1024,
             "Largest gRPC message any cyray process sends or accepts (senders check first).")
CYRAY_CONFIG(int64_t, actor_unavailable_timeout_ms, 5000,
             "Calls to an actor the GCS says is alive but that stays unreachable this long "
             "fail with ActorUnavailableError (or are retried per max_task_retries).")
CYRAY_CONFIG(int64_t, worker_register_timeout_seconds, 60,
             "A started worker that has not registered with its raylet by then is killed.")
CYRAY_CONFIG(int64_t, maximum_startup_concurrency, 0,
             "Workers a raylet starts at once; 0 means its number of CPUs.")
CYRAY_CONFIG(int64_t, num_prestart_workers, -1,
             "Workers a raylet starts before any lease; -1 means one per CPU.")
CYRAY_CONFIG(int64_t, idle_worker_killing_time_ms, 300000,
             "Idle workers above the soft limit are ended after being idle this long.")
CYRAY_CONFIG(int64_t, gcs_heartbeat_interval_ms, 500,
             "How often a raylet reports to the GCS that it is alive.")
CYRAY_CONFIG(int64_t, health_check_period_ms, 1000,
             "The GCS checks every raylet this often (a raylet that exits is seen at once "
             "through its connection).")
CYRAY_CONFIG(int64_t, health_check_failure_threshold, 5,
             "The GCS marks a node dead after this many health checks in a row without a report.")
CYRAY_CONFIG(int64_t, raylet_gcs_lost_timeout_ms, 10000,
             "A raylet that cannot reach the GCS for this long exits.")
CYRAY_CONFIG(int64_t, rpc_connect_timeout_ms, 10000,
             "How long a client waits for a gRPC channel to become ready.")
CYRAY_CONFIG(int64_t, get_check_signal_interval_ms, 100,
             "Blocking waits wake this often to let Python handle Ctrl-C.")
CYRAY_CONFIG(int64_t, max_lease_requests_in_flight, 10,
             "Outstanding worker lease requests per scheduling class of one owner.")
CYRAY_CONFIG(int64_t, max_tasks_in_flight_per_worker, 16,
             "Most tasks an owner pipelines to one leased worker when more wait than leases "
             "come; fewer for longer tasks (about 1 ms of work queued behind the running one).")
CYRAY_CONFIG(int64_t, lease_idle_linger_ms, 10,
             "An owner keeps a drained lease this long for the next task of the same shape.")
CYRAY_CONFIG(int64_t, object_store_full_timeout_ms, 3000,
             "A put waits this long for room in a full object store before failing.")
CYRAY_CONFIG(bool, kill_idle_workers_of_dead_owner, true,
             "End workers leased by an owner whose connection to the raylet closed.")
CYRAY_CONFIG(double, scheduler_spread_threshold, 0.5,
             "DEFAULT scheduling keeps work on the local node while its utilisation is below this.")
CYRAY_CONFIG(int64_t, object_manager_chunk_size, 4 * 1024 * 1024,
             "Bytes per chunk when a raylet pulls an object from another node.")
CYRAY_CONFIG(int64_t, object_manager_max_chunks_in_flight, 16,
             "Chunk requests a raylet keeps in flight for one pull.")
CYRAY_CONFIG(int64_t, object_pull_timeout_ms, 600000,
             "A pull of an object from another node fails after this long without success.")
CYRAY_CONFIG(int64_t, task_events_report_interval_ms, 1000,
             "How often each process sends its task events to the GCS; 0 records none "
             "(the state API, timeline and explain then know no tasks).")
CYRAY_CONFIG(int64_t, task_events_max_buffer_size, 100000,
             "Task events (state changes) a process buffers between reports; more are dropped "
             "and counted.")
CYRAY_CONFIG(int64_t, task_events_max_num_task_in_gcs, 100000,
             "Task attempts the GCS keeps for the state API; the oldest are evicted first.")
CYRAY_CONFIG(double, get_explain_after_s, 30,
             "A get still waiting after this many seconds logs once why its refs are not "
             "ready (cyray.util.explain); 0 never does.")
CYRAY_CONFIG(bool, record_ref_creation_sites, false,
             "Record where each ObjectRef was created, for `cyray memory` and list_objects "
             "(costs a stack walk per ref).")
