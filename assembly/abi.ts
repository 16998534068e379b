// wasphere ABI numbers: the one place they are defined.
//
// This file is compiled by both asc (into core.wasm) and tsc (into the host), so it must hold
// nothing but `export const NAME = <integer literal>;` lines and comments. tests/host/abi.test
// checks ABI.md against it, so a number changed here and not there fails the build.

// ---- Version of the core (reported by core_version as major<<16 | minor<<8 | patch).
export const CORE_VERSION_MAJOR = 0;
export const CORE_VERSION_MINOR = 1;
export const CORE_VERSION_PATCH = 0;

// ---- Errors: every call returns >= 0 on success or one of these, negated.
// The file-system numbers are littlefs's own (they are POSIX errno values).
export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EFBIG = 27;
export const ENOSPC = 28;
export const EPIPE = 32;
export const EROFS = 30;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ENOTEMPTY = 39;
export const ENODATA = 61;
export const EMSGSIZE = 90;
export const ENETDOWN = 100;
export const ECONNRESET = 104;
export const ENOTCONN = 107;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;
export const EADDRINUSE = 98;
export const ECORRUPT = 84;
export const EDQUOT = 122;
// A call whose work waits for the security processor: call it again once the mailbox has answered.
export const EINPROGRESS = 115;
// The update unit's (drivers/update.ts): a feed or core image signed by a key the device does not
// trust; an image older than the installed one (or a feed older than the last accepted, replayed);
// bytes that are not the ones the feed or signature names (a bad feed signature, a download whose
// length or SHA-256 differs from its feed entry's).
export const EUNTRUSTED = 125;
export const EROLLBACK = 126;
export const EINTEGRITY = 127;

// ---- App syscalls (module "applibs"). The host trampoline for import NAME calls
// core.syscall(task, SYS_NAME, a0, a1, a2, a3). Numbers are stable; never reuse one.
export const SYS_EXIT = 0;
export const SYS_YIELD = 1;
export const SYS_SLEEP_MS = 2;
export const SYS_CLOCK_MS = 3;
export const SYS_LOG = 4;
export const SYS_GPIO_OPEN_OUTPUT = 5;
export const SYS_GPIO_OPEN_INPUT = 6;
export const SYS_GPIO_SET = 7;
export const SYS_GPIO_GET = 8;
export const SYS_CLOSE = 9;
export const SYS_TIMER_CREATE = 10;
export const SYS_WAIT = 11;
export const SYS_MEM_QUOTA_BYTES = 12;
export const SYS_MEM_IN_USE_BYTES = 13;
export const SYS_MEM_PEAK_BYTES = 14;
export const SYS_ARGS_GET = 15;
// The event loop (ABI.md "Event loop"): wait on up to WAIT_ANY_MAX_HANDLES handles at once.
export const SYS_WAIT_ANY = 16;
// 17..31 are reserved (no call: -ENOSYS).
// Storage (ABI.md "Storage"): an app's mutable files and its own package's files.
export const SYS_STORAGE_OPEN = 32;
export const SYS_STORAGE_READ = 33;
export const SYS_STORAGE_WRITE = 34;
export const SYS_STORAGE_SEEK = 35;
export const SYS_STORAGE_TRUNCATE = 36;
export const SYS_STORAGE_DELETE = 37;
export const SYS_STORAGE_USAGE = 38;
export const SYS_PACKAGE_OPEN = 39;
// Peripherals (ABI.md "Peripherals"): `id` is the interface's id on the board (SPEC.md, "Hardware
// definition"); each open gives a handle of the interface's one function.
export const SYS_UART_OPEN = 40;
export const SYS_UART_READ = 41;
export const SYS_UART_WRITE = 42;
export const SYS_I2C_OPEN = 43;
export const SYS_I2C_CONFIGURE = 44;
export const SYS_I2C_WRITE = 45;
export const SYS_I2C_READ = 46;
export const SYS_I2C_WRITE_READ = 47;
export const SYS_SPI_OPEN = 48;
export const SYS_SPI_CONFIGURE = 49;
export const SYS_SPI_TRANSFER = 50;
export const SYS_ADC_OPEN = 51;
export const SYS_ADC_SAMPLE_BITS = 52;
export const SYS_ADC_SET_REFERENCE = 53;
export const SYS_ADC_POLL = 54;
export const SYS_PWM_OPEN = 55;
export const SYS_PWM_APPLY = 56;
// App-to-app channels (ABI.md "Channels").
export const SYS_CHANNEL_OPEN = 57;
export const SYS_CHANNEL_SEND = 58;
export const SYS_CHANNEL_RECV = 59;
// The security processor, through the mailbox (ABI.md "Security processor").
export const SYS_RANDOM_BYTES = 60;
export const SYS_SHA256 = 61;
// Networking (ABI.md "Networking"; drivers/net.ts).
export const SYS_NET_CONNECT = 62;
export const SYS_NET_LISTEN = 63;
export const SYS_NET_ACCEPT = 64;
export const SYS_NET_SEND = 65;
export const SYS_NET_RECV = 66;
export const SYS_NET_STATE = 67;
export const SYS_NET_SENDTO = 68;
export const SYS_NET_RECVFROM = 69;
export const SYS_NET_STATUS = 70;
export const SYS_NET_ADMIN = 71;
// The device's clock and power (ABI.md "Time and power"): time_get needs no capability, time_set
// SystemTime, power_reboot and power_down PowerControls.
export const SYS_TIME_GET = 72;
export const SYS_TIME_SET = 73;
export const SYS_POWER_REBOOT = 74;
export const SYS_POWER_DOWN = 75;
// Updates (drivers/update.ts; ABI.md "App imports"): only an app holding UpdateAgent (a system app).
export const SYS_UPDATE_FEED_VERIFY = 76;
export const SYS_UPDATE_STAGE_BEGIN = 77;
export const SYS_UPDATE_STAGE_WRITE = 78;
export const SYS_UPDATE_STAGE_COMMIT = 79;
export const SYS_UPDATE_INSTALLED_VERSION = 80;
export const SYS_UPDATE_LAST_ERROR = 81;
// System events and update deferral (ABI.md "System events"; drivers/sysevent.ts).
export const SYS_SYSEVENT_REGISTER = 82;
export const SYS_SYSEVENT_INFO = 83;
export const SYS_SYSEVENT_DEFER = 84;
export const SYS_SYSEVENT_RESUME = 85;
// One more than the highest number: the size of the security hook's table.
export const SYS_COUNT = 86;

// ---- Scheduler: why an app stopped running (host -> core, sched_report).
export const STOP_YIELDED = 0;
export const STOP_BLOCKED = 1;
export const STOP_OUT_OF_FUEL = 2;
export const STOP_EXITED = 3;
export const STOP_TRAPPED = 4;

// A syscall that returns this asks the host to suspend the caller; the real result is
// delivered by task_take_result when the core wakes the task. It is not an errno.
export const SYSCALL_SUSPEND = -65536;

// ---- Task states (task_state).
export const TASK_FREE = 0;
export const TASK_READY = 1;
export const TASK_RUNNING = 2;
export const TASK_BLOCKED = 3;
export const TASK_EXITED = 4;
export const TASK_BACKOFF = 5;
export const TASK_FAILED = 6;

// ---- GPIO.
export const GPIO_DIR_INPUT = 0;
export const GPIO_DIR_OUTPUT = 1;

// ---- Audit / event ring: what kind of event an entry records.
export const EV_DENIED = 1;
export const EV_BAD_HANDLE = 2;
export const EV_FAULT = 3;
export const EV_APP_INSTALLED = 4;
export const EV_APP_STARTED = 5;
export const EV_APP_EXITED = 6;
export const EV_APP_TRAPPED = 7;
export const EV_APP_RESTART = 8;
export const EV_APP_GAVE_UP = 9;
export const EV_APP_STOPPED = 10;
export const EV_INSTALL_REFUSED = 11;
export const EV_CORE_NOMEM = 12;
// An app's log lines beyond its rate were dropped; `arg` counts them.
export const EV_LOG_DROPPED = 13;
// An app's denials, bad handles and faults beyond its audit rate were counted, not recorded; `arg`
// counts them.
export const EV_AUDIT_DROPPED = 14;
// A call was refused because a limit on a shared pool was reached; `arg` is the LIMIT_* hit.
export const EV_LIMIT = 15;
// An image package was refused by its signature check (appmgr/verify.ts): `arg` is the list entry
// (-1: a sideload), `syscall` the IMAGE_REFUSED_* reason, `result` the -errno.
export const EV_IMAGE_REFUSED = 16;
export const IMAGE_REFUSED_UNSIGNED = 1;
export const IMAGE_REFUSED_UNTRUSTED_KEY = 2;
export const IMAGE_REFUSED_BAD_SIGNATURE = 3;
export const IMAGE_REFUSED_FIELD_MODE = 4;
export const IMAGE_REFUSED_NO_PROCESSOR = 5;
// The device is to reboot (the host stops every app and boots again, SPEC.md "Reboot"): `arg` is
// the REBOOT_REASON_*, `app` the app that asked (-1: none), `result` the seconds a power-down
// stays down (REBOOT_REASON_POWER_DOWN; else 0).
export const EV_REBOOT_REQUESTED = 17;
export const REBOOT_REASON_POWER_CONTROLS = 1;
export const REBOOT_REASON_OS_UPDATE = 2;
export const REBOOT_REASON_POWER_DOWN = 4;
// An app set the device's UTC clock (time_set): `arg` is how far it moved, in whole seconds
// (clamped to the i32 range; negative: backwards).
export const EV_TIME_SET = 18;
// An update from the feed was applied (drivers/update.ts): `arg` the list entry, `result` the new VERSION.
export const EV_UPDATE_APPLIED = 19;
// A feed or an update from it was refused: `syscall` the UPDATE_REFUSED_* reason, `arg` the
// list entry it would replace (-1: none, or a feed), `result` the -errno.
export const EV_UPDATE_REFUSED = 20;
// A feed was accepted and its Sequence recorded (`arg`: the Sequence, low 31 bits).
export const EV_FEED_ACCEPTED = 21;
export const UPDATE_REFUSED_FEED_UNTRUSTED_KEY = 1;
export const UPDATE_REFUSED_FEED_BAD_SIGNATURE = 2;
export const UPDATE_REFUSED_FEED_MALFORMED = 3;
export const UPDATE_REFUSED_FEED_REPLAYED = 4;
export const UPDATE_REFUSED_TOO_BIG = 5;
export const UPDATE_REFUSED_TRUNCATED = 6;
export const UPDATE_REFUSED_HASH = 7;
export const UPDATE_REFUSED_WRONG_COMPONENT = 8;
export const UPDATE_REFUSED_OLDER = 9;
export const UPDATE_REFUSED_PACKAGE = 10;
export const UPDATE_REFUSED_NOT_INSTALLED = 11;
export const UPDATE_REFUSED_OVERSIZE = 12;
export const UPDATE_REFUSED_NO_FEED = 13;
export const UPDATE_REFUSED_CORE_UNTRUSTED_KEY = 14;
export const UPDATE_REFUSED_CORE_BAD_SIGNATURE = 15;
export const UPDATE_REFUSED_CORE_OLDER = 16;
export const UPDATE_REFUSED_CORE_MALFORMED = 17;
export const UPDATE_REFUSED_CORE_ON_TRIAL = 18;

// Which limit an EV_LIMIT entry names.
export const LIMIT_TASK_HANDLES = 1;
export const LIMIT_APP_HANDLES = 2;
export const LIMIT_APP_TIMERS = 3;
// The app table is full (app_install, -ENOSPC; the entry has no app).
export const LIMIT_APPS = 4;
// The task table is full (app_start, -ENOMEM).
export const LIMIT_TASKS = 5;
// The app's quota does not fit the RAM pool beside the core and the running apps (app_start, -ENOMEM).
export const LIMIT_APP_RAM = 6;
// The app used its CPU budget for the window (a slice's end; `result` 0): its tasks wait for the next.
export const LIMIT_CPU_BUDGET = 7;
// The app's share of the STORAGE_OPEN_MAX open storage files is used up (storage_open, package_open: -ENFILE).
export const LIMIT_STORAGE_OPEN = 8;
// The app's share of the channel ends (CHANNEL_MAX * 2) is used up, or every channel row is taken (channel_open: -ENFILE).
export const LIMIT_CHANNELS = 9;
// The app's share of the MAILBOX_MAX_OUTSTANDING requests to the security processor is used up, or every one is (random_bytes, sha256: -EAGAIN).
export const LIMIT_MAILBOX = 10;
// The app's share of the NET_MAX_SOCKETS sockets is used up, or every one is (net_connect, net_listen, net_accept: -ENFILE).
export const LIMIT_SOCKETS = 11;
// One update is staged at a time, device-wide (update_stage_begin: -EBUSY).
export const LIMIT_UPDATE_SESSIONS = 12;

// Fields of an audit entry (audit_field).
export const AUDIT_SEQ = 0;
export const AUDIT_KIND = 1;
export const AUDIT_TASK = 2;
export const AUDIT_APP = 3;
export const AUDIT_SYSCALL = 4;
export const AUDIT_ARG = 5;
export const AUDIT_RESULT = 6;

// ---- Limits of the core (compile-time; the footprint report shows what they cost).
// 64 apps: more than the 4 MiB can run at once at the smallest quota (64 KiB), so the table is
// never what stops a device that has the RAM (DESIGN.md, "Footprint").
export const MAX_APPS = 64;
// File-system mounts (assembly/fs/mount.ts): the data partition plus one read-only mount per
// installed app's image package.
export const MAX_MOUNTS = 1 + MAX_APPS;
export const MAX_TASKS = 64;
export const MAX_HANDLES = 1024;
export const MAX_TIMERS = 256;
// A handle is index | generation << HANDLE_INDEX_BITS; the index bits hold MAX_HANDLES - 1.
export const HANDLE_INDEX_BITS = 10;
// Shared pools (handle rows, timers): a task holds at most HANDLES_PER_TASK_MAX handles; an app
// at most 1 / SHARE_MAX_DIVISOR of a pool, and each installed app is kept pool / MAX_APPS rows.
export const HANDLES_PER_TASK_MAX = 128;
export const SHARE_MAX_DIVISOR = 4;
export const MAX_GPIO_PINS = 128;
export const AUDIT_ENTRIES = 128;
export const MANIFEST_MAX_BYTES = 8192;
// The cabi_realloc arena (assembly/cabi.ts): where the host lowers every list it passes in and
// every list a hal call returns. Sized to the largest list that crosses, a manifest
// (MANIFEST_MAX_BYTES); an fs call's path and data chunk (at most FS_IO_CHUNK_BYTES each, the
// host's chunking) with the flash reads made meanwhile fit beside each other in it.
export const CABI_ARENA_BYTES = 8192;
export const FS_IO_CHUNK_BYTES = 2048;
export const APP_NAME_MAX_BYTES = 64;
export const ENTRY_POINT_MAX_BYTES = 128;
export const CMD_ARGS_MAX_BYTES = 512;
// The most handles one wait_any names (its result is a bitmask of their indexes).
export const WAIT_ANY_MAX_HANDLES = 16;

// ---- App memory.
export const WASM_PAGE_BYTES = 65536;
export const DEFAULT_APP_QUOTA_BYTES = 262144;
// The first bytes of every app's memory are the runtime's: the asyncify save area lives there.
// Apps are linked with their data starting at APP_MEMORY_BASE (asc --memoryBase).
export const APP_RUNTIME_AREA_BYTES = 8192;

// ---- App table fields (app_field).
export const APP_FIELD_QUOTA_BYTES = 0;
export const APP_FIELD_STATE = 1;
export const APP_FIELD_TASK = 2;
export const APP_FIELD_CRASHES = 3;
export const APP_FIELD_RESTARTS = 4;
export const APP_FIELD_PRIORITY = 5;
export const APP_FIELD_SLICES = 6;
export const APP_FIELD_FUEL_KILO = 7;
export const APP_FIELD_MEM_PEAK_BYTES = 8;
export const APP_FIELD_CPU_BUDGET_KFUEL = 9;
export const APP_FIELD_CPU_WINDOW_KFUEL = 10;
export const APP_FIELD_CPU_THROTTLED_MS = 11;
export const APP_FIELD_STORAGE_QUOTA_BYTES = 12;
export const APP_FIELD_STORAGE_USED_BYTES = 13;

// ---- App strings (app_string).
export const APP_STRING_NAME = 0;
export const APP_STRING_COMPONENT_ID = 1;
export const APP_STRING_ENTRY_POINT = 2;
export const APP_STRING_CMD_ARGS = 3;

// ---- Scheduling and restart policy.
export const PRIORITY_LEVELS = 8;
export const DEFAULT_PRIORITY = 4;
export const SLICE_FUEL = 2000000;
// A ready task's priority improves by one level for every AGING_STEP_MS it waits; a task that
// yields waits behind every ready task for YIELD_DEFER_MS (DESIGN.md, "Scheduling").
export const AGING_STEP_MS = 2;
export const YIELD_DEFER_MS = 16;
// A task woken from a sleep, a wait or an input event counts as ready since it blocked, for at
// most WAKE_CREDIT_MS (DESIGN.md, "Scheduling": wake credit).
export const WAKE_CREDIT_MS = 16;
// A CpuBudget counts fuel in windows of device time (DESIGN.md, "Scheduling": CPU budget).
export const CPU_BUDGET_WINDOW_MS = 1000;
export const CPU_BUDGET_MIN_FUEL = 2000000;
export const CPU_BUDGET_MAX_FUEL = 1000000000000;
// Restart backoff: base, doubling per recent crash, capped; the cap is reached at crash 5, before
// giving up at crash RESTART_MAX_CRASHES (100, 200, 400, 800, 1600, 1600, 1600, give up).
export const RESTART_BACKOFF_BASE_MS = 100;
export const RESTART_BACKOFF_MAX_MS = 1600;
export const RESTART_MAX_CRASHES = 8;
export const RESTART_WINDOW_MS = 60000;
// What a syscall costs in fuel (one unit is about one Wasm instruction): what it makes the host
// do, measured against compute in the same run (DESIGN.md, "Scheduling").
export const SYSCALL_FUEL = 2000;
export const LOG_LINE_FUEL = 20000;
export const LOG_BYTE_FUEL = 16;
export const GPIO_WRITE_FUEL = 20000;
export const COPY_BYTE_FUEL = 4;
// A storage call that opens, commits or walks a littlefs file (flash reads and programs).
export const STORAGE_OP_FUEL = 50000;
// Per-app rates, in windows of device time: log lines, and denials/bad handles/faults recorded.
export const RATE_WINDOW_MS = 1000;
export const LOG_LINES_PER_WINDOW = 64;
export const AUDIT_EVENTS_PER_WINDOW = 16;

// ---- Storage (ABI.md "Storage"; SPEC.md "Mutable storage").
// storage_open flags.
export const STORAGE_OPEN_CREATE = 1;
export const STORAGE_OPEN_TRUNCATE = 2;
// A mutable file's name: 1..STORAGE_NAME_MAX_BYTES of [A-Za-z0-9._-], not "." or "..".
export const STORAGE_NAME_MAX_BYTES = 32;
// A package file's path: relative, 1..STORAGE_PATH_MAX_BYTES, components as a name's (no "." or "..").
export const STORAGE_PATH_MAX_BYTES = 64;
// The mutable files one app may have.
export const STORAGE_FILES_PER_APP = 16;
// Storage files open at once, device-wide (each app its share, sched/share.ts).
export const STORAGE_OPEN_MAX = 64;
// The most bytes one storage_read or storage_write moves (the call returns how many it moved).
export const STORAGE_IO_MAX_BYTES = 2048;
// What an inline file costs beyond its data and name: its name, struct and CRC tags.
export const STORAGE_INLINE_OVERHEAD_BYTES = 16;
// The largest MutableStorage.SizeKB a manifest may ask.
export const STORAGE_MAX_KIB = 65536;

// ---- The board and its peripherals (SPEC.md "Hardware definition", "Peripheral calls").
// Interfaces a board may describe (board_add), each with its functions, channels and muxed pins.
export const BOARD_MAX_INTERFACES = 16;
// An interface's name (`ISU0`, `ADC-CONTROLLER-0`): 1..BOARD_NAME_MAX_BYTES of [A-Za-z0-9_-].
export const BOARD_NAME_MAX_BYTES = 24;
// ADC and PWM channels of one interface.
export const BOARD_MAX_CHANNELS = 32;
// An interface's functions (board_add's mask; periph-control's `function`).
export const PERIPH_UART = 1;
export const PERIPH_I2C = 2;
export const PERIPH_SPI = 4;
export const PERIPH_ADC = 8;
export const PERIPH_PWM = 16;
// The most bytes one peripheral call moves each way (uart_read/write, an I2C or SPI transfer).
export const PERIPH_IO_MAX_BYTES = 2048;
// Host work a peripheral call causes beyond SYSCALL_FUEL (a bus transaction), and per byte COPY_BYTE_FUEL.
export const PERIPH_CALL_FUEL = 20000;
// The ops of periph-control and periph-read, per function (SPEC.md "Peripheral calls").
// Every function: an app opened or closed the interface (periph-control).
export const PERIPH_OP_OPEN = 0;
export const PERIPH_OP_CLOSE = 15;
export const UART_OP_CONFIGURE = 1;
export const UART_OP_WRITE = 2;
export const UART_OP_READ = 3;
export const UART_OP_PENDING = 4;
export const I2C_OP_CONFIGURE = 1;
export const I2C_OP_WRITE = 2;
export const I2C_OP_READ = 3;
export const I2C_OP_WRITE_READ = 4;
export const SPI_OP_TRANSFER = 1;
export const ADC_OP_POLL = 1;
export const ADC_OP_SET_REFERENCE = 2;
export const ADC_OP_SAMPLE_BITS = 3;
export const PWM_OP_APPLY = 1;
// uart_open's config (8 bytes): baud u32, data bits u8 (5..8), parity u8, stop bits u8 (1, 2), flow control u8.
export const UART_CONFIG_BYTES = 8;
export const UART_PARITY_NONE = 0;
export const UART_PARITY_EVEN = 1;
export const UART_PARITY_ODD = 2;
export const UART_FLOW_NONE = 0;
export const UART_FLOW_RTS_CTS = 1;
export const UART_FLOW_XON_XOFF = 2;
export const UART_MAX_BAUD = 3000000;
// I2C bus speeds (I2CMaster_SetBusSpeed), and the longest timeout (I2CMaster_SetTimeout).
export const I2C_SPEED_STANDARD_HZ = 100000;
export const I2C_SPEED_FAST_HZ = 400000;
export const I2C_SPEED_FAST_PLUS_HZ = 1000000;
export const I2C_MAX_TIMEOUT_MS = 10000;
// i2c_write_read's descriptor (16 bytes): write ptr, write len, read ptr, read len (u32 each).
export const I2C_WRITE_READ_DESC_BYTES = 16;
// spi_open's and spi_configure's config (8 bytes): speed Hz u32, mode u8 (0..3), bit order u8 (0 MSB first, 1 LSB first), 2 bytes 0.
export const SPI_CONFIG_BYTES = 8;
export const SPI_MAX_SPEED_HZ = 80000000;
export const SPI_MAX_CHIP_SELECTS = 4;
// spi_transfer's transfers: SPI_TRANSFER_BYTES each (flags u32, data ptr u32, length u32), 1..SPI_MAX_TRANSFERS.
export const SPI_TRANSFER_BYTES = 12;
export const SPI_MAX_TRANSFERS = 16;
export const SPI_TRANSFER_WRITE = 1;
export const SPI_TRANSFER_READ = 2;
// pwm_apply's state (16 bytes): period ns u32, duty cycle ns u32, polarity u32 (0 normal, 1 inversed), enabled u32 (0, 1).
export const PWM_STATE_BYTES = 16;
export const PWM_POLARITY_NORMAL = 0;
export const PWM_POLARITY_INVERSED = 1;

// ---- App-to-app channels (ABI.md "Channels").
// The ComponentIds one manifest's AllowedApplicationConnections may list.
export const CHANNEL_PEERS_MAX = 4;
// Channels open at once, device-wide (each end its app's share of CHANNEL_MAX * 2 ends).
export const CHANNEL_MAX = 32;
// Each direction of a channel: a queue of CHANNEL_DEPTH whole messages of at most CHANNEL_MSG_MAX_BYTES.
export const CHANNEL_DEPTH = 8;
export const CHANNEL_MSG_MAX_BYTES = 256;
// channel_open's peer: a ComponentId as text, "1689d8b2-c835-2e27-27ad-e894d6d15fa9".
export const CHANNEL_PEER_ID_BYTES = 36;

// ---- Image packages (SPEC.md, "Image packages"): the format's numbers (pkg_parse's result is
// wit kernel's pkg-info record).
export const PKG_MAX_BYTES = 2097152;
export const PKG_METADATA_MAX_BYTES = 1024;
export const PKG_TRAILER_BYTES = 16;
export const PKG_FORMAT_VERSION = 1;
export const PKG_IMAGE_TYPE_APPLICATION = 10;
export const PKG_ABI_APPLIBS = 1;
export const PKG_SIG_NONE = 0;
export const PKG_SIG_ECDSA_P256_SHA256 = 1;

// ---- The flash partition table (SPEC.md, "Flash layout"): block 0 of the device.
export const PTABLE_VERSION = 1;
export const PTABLE_MAX_ENTRIES = 16;
export const PART_OS_A = 1;
export const PART_OS_B = 2;
export const PART_APPS = 3;
export const PART_STAGING = 4;
export const PART_DATA = 5;
export const PART_FLAG_ACTIVE = 1;

// ---- Security processor mailbox (SPEC.md "Security processor mailbox"; drivers/crypto.ts).
// Frame header: u16 command or request id, u16 request id or status, u32 payload bytes.
export const MAILBOX_HEADER_BYTES = 8;
export const MAILBOX_MAX_PAYLOAD_BYTES = 4096;
// Requests the processor holds at once (its MAX_OUTSTANDING); the core never posts more.
export const MAILBOX_MAX_OUTSTANDING = 16;
export const MAILBOX_CMD_RANDOM = 1;
export const MAILBOX_CMD_SHA256_INIT = 2;
export const MAILBOX_CMD_SHA256_UPDATE = 3;
export const MAILBOX_CMD_SHA256_FINAL = 4;
export const MAILBOX_CMD_ATTEST = 8;
export const MAILBOX_CMD_VERIFY_TRUSTED = 11;
// VERIFY_TRUSTED: the role whose roots a signature is checked against, its verdicts, the modes.
export const MAILBOX_ROLE_OS = 1;
export const MAILBOX_ROLE_APP = 2;
export const MAILBOX_VERDICT_VERIFIED = 0;
export const MAILBOX_VERDICT_UNTRUSTED_KEY = 1;
export const MAILBOX_VERDICT_BAD_SIGNATURE = 2;
export const MAILBOX_MODE_FIELD = 0;
export const MAILBOX_MODE_DEVELOPMENT = 1;
// ATTEST: a 32-byte nonce; its statement has the boot measurement and one per running package.
export const ATTEST_NONCE_BYTES = 32;
export const ATTEST_MAX_BYTES = 24 + 32 + (MAX_APPS + 1) * 32 + 64;
export const MAILBOX_STATUS_OK = 0;
// The processor has no free hash context.
export const MAILBOX_STATUS_NO_CONTEXT = 7;
// sha256: at most this many bytes a call (one SHA256_UPDATE: its payload is the u32 context and the data).
export const SHA256_MAX_BYTES = 4092;
export const SHA256_DIGEST_BYTES = 32;
// ---- Updates (ABI.md "Updates"; drivers/update.ts).
// update_stage_begin's kinds: an app's image package (a core image is not staged by this build).
export const UPDATE_KIND_APP = 1;
export const UPDATE_KIND_CORE = 2;
// update_stage_begin's descriptor: the ComponentId (16 bytes, text order) and the SHA-256 the feed names.
export const UPDATE_DESC_BYTES = 48;
// A feed manifest's most bytes (host/update-feed.ts FEED_MAX_BYTES).
export const FEED_MAX_BYTES = 65536;
// The security processor's counter holding the highest feed Sequence accepted (counter 0 is the OS version).
export const FEED_SEQUENCE_COUNTER = 1;
// update_stage_write: at most this many bytes a call.
export const UPDATE_WRITE_MAX_BYTES = 2048;
// update_last_error: the message kept of the last refusal, at most this many bytes.
export const UPDATE_ERROR_MAX_BYTES = 256;
// A core image (SPEC.md "Core image"): its header; the OS version is security-processor counter 0.
export const CORE_IMAGE_MAGIC = 0x49435357; // "WSCI"
export const CORE_IMAGE_HEADER_BYTES = 96;
// Format 2: the payload holds the core and the OS image's system app packages (format 1 is refused).
export const CORE_IMAGE_FORMAT = 2;
export const OS_VERSION_COUNTER = 0;
// The OS slots' boot state (SPEC.md "OS boot state"): 16-byte records in each slot's last erase block.
export const BOOT_STATE_MAGIC = 0x53425357; // "WSBS"
export const BOOT_STATE_RECORD_BYTES = 16;
export const BOOT_STATE_PENDING = 1;
export const BOOT_STATE_TRYING = 2;
export const BOOT_STATE_CONFIRMED = 3;
export const BOOT_STATE_REJECTED = 4;
export const MAILBOX_CMD_COUNTER_READ = 9;
export const MAILBOX_CMD_COUNTER_ADVANCE = 10;
// random_bytes: at most this many bytes a call (the processor's RANDOM limit).
export const RANDOM_MAX_BYTES = 256;
// ---- Networking (ABI.md "Networking"; SPEC.md "Network calls"; drivers/net.ts).
// net_connect's and net_listen's protocol.
export const NET_TCP = 1;
export const NET_UDP = 2;
// Sockets open at once, device-wide (each app its share, sched/share.ts): connections, listeners and accepted ones.
export const NET_MAX_SOCKETS = 32;
// The most bytes one net_send or net_recv moves (the call returns how many), and the largest datagram.
export const NET_IO_MAX_BYTES = 2048;
// A socket address (net_sendto, net_recvfrom; SPEC.md "Network calls"): family u8 (4 or 6), 0 u8,
// port u16, 16 address bytes (IPv4 in the first 4).
export const NET_ADDR_BYTES = 20;
// net_status's record (SPEC.md "Network calls"): ready u8, interface up u8, 2 bytes 0, IPv4 address
// 4 bytes, interface name (NUL-padded) 24 bytes.
export const NET_STATUS_BYTES = 32;
// A manifest's AllowedConnections: at most NET_ALLOW_MAX_ENTRIES entries whose canonical forms
// (net/allow.ts) take at most NET_ALLOW_MAX_BYTES with a length byte each.
export const NET_ALLOW_MAX_ENTRIES = 32;
export const NET_ALLOW_MAX_BYTES = 1024;
// A host name or address a manifest or net_connect names: at most this many bytes.
export const NET_HOST_MAX_BYTES = 253;
// AllowedTcpServerPorts, AllowedUdpServerPorts: at most this many ports each.
export const NET_SERVER_PORTS_MAX = 4;
// net_state's bits (a non-negative result); a negative one is the socket's error.
export const NET_STATE_CONNECTED = 1;
export const NET_STATE_READABLE = 2;
export const NET_STATE_WRITABLE = 4;
export const NET_STATE_EOF = 8;
export const NET_STATE_LISTENING = 16;
// net_admin's ops (the network manager's; CAP_NET_ADMIN).
export const NET_ADMIN_PROBE = 1;
export const NET_ADMIN_PUBLISH = 2;
// The ops of net-control and net-read (SPEC.md "Network calls").
export const NET_OP_CONNECT = 1;
export const NET_OP_LISTEN = 2;
export const NET_OP_ACCEPT = 3;
export const NET_OP_SEND = 4;
export const NET_OP_STATE = 5;
export const NET_OP_CLOSE = 6;
export const NET_OP_SENDTO = 7;
export const NET_OP_PROBE = 8;
export const NET_OP_RECV = 9;
export const NET_OP_RECVFROM = 10;
// Host work a network call causes beyond SYSCALL_FUEL (a socket operation), and per byte COPY_BYTE_FUEL.
export const NET_CALL_FUEL = 20000;
// Host work a mailbox request causes beyond SYSCALL_FUEL (the processor's answer), and per byte COPY_BYTE_FUEL.
export const MAILBOX_CALL_FUEL = 20000;
// ---- Time and power (ABI.md "Time and power"; drivers/systime.ts).
// time_get / time_set: UTC milliseconds since the Unix epoch, an i64 in app memory. time_set takes
// 0 to TIME_MAX_MS (9999-12-31T23:59:59.999Z, the last instant a four-digit year names).
export const TIME_BYTES = 8;
export const TIME_MAX_MS = 253402300799999;
// power_down: the longest it may stay down, in seconds (a day); 0 or more is asked.
export const POWER_DOWN_MAX_S = 86400;

// ---- System events (ABI.md "System events"; drivers/sysevent.ts).
/** The event `sysevent_register` takes in its mask (the only one): an update is ready to install. */
export const SYSEVENT_UPDATE_READY_FOR_INSTALL = 1;
/** The status of the announced update: none announced, pending (may be deferred), final (being applied), deferred, complete. */
export const SYSEVENT_STATUS_NONE = 0;
export const SYSEVENT_STATUS_PENDING = 1;
export const SYSEVENT_STATUS_FINAL = 2;
export const SYSEVENT_STATUS_DEFERRED = 3;
export const SYSEVENT_STATUS_COMPLETE = 4;
/** What is updated: an app package, or the OS (the core image). */
export const SYSEVENT_UPDATE_APP = 1;
export const SYSEVENT_UPDATE_OS = 2;
/** `sysevent_info`'s record: u32 event, u32 status, u32 update type, u32 minutes a deferral may still take (pending only). */
export const SYSEVENT_INFO_BYTES = 16;
/** How long a pending update waits for a deferral before it goes on (device ms). */
export const SYSEVENT_NOTICE_MS = 10000;
/** Every deferral of one update ends within this many minutes of its first notice. */
export const SYSEVENT_MAX_DEFER_MINUTES = 1440;

