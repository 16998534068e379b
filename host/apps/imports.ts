// The app ABI as the host sees it: every `applibs` import an app may have, its syscall number,
// its Wasm signature and whether it can block (and so must be listed for asyncify).
import * as abi from "../../assembly/abi.js";

export interface AppImport {
  name: string;
  nr: number;
  params: number;
  results: number;
  blocking: boolean;
}

export const APP_IMPORTS: readonly AppImport[] = [
  { name: "exit", nr: abi.SYS_EXIT, params: 1, results: 0, blocking: false },
  { name: "yield", nr: abi.SYS_YIELD, params: 0, results: 1, blocking: true },
  { name: "sleep_ms", nr: abi.SYS_SLEEP_MS, params: 1, results: 1, blocking: true },
  { name: "clock_ms", nr: abi.SYS_CLOCK_MS, params: 0, results: 1, blocking: false },
  { name: "log", nr: abi.SYS_LOG, params: 2, results: 1, blocking: false },
  { name: "gpio_open_output", nr: abi.SYS_GPIO_OPEN_OUTPUT, params: 2, results: 1, blocking: false },
  { name: "gpio_open_input", nr: abi.SYS_GPIO_OPEN_INPUT, params: 1, results: 1, blocking: false },
  { name: "gpio_set", nr: abi.SYS_GPIO_SET, params: 2, results: 1, blocking: false },
  { name: "gpio_get", nr: abi.SYS_GPIO_GET, params: 1, results: 1, blocking: false },
  { name: "close", nr: abi.SYS_CLOSE, params: 1, results: 1, blocking: false },
  { name: "timer_create", nr: abi.SYS_TIMER_CREATE, params: 1, results: 1, blocking: false },
  { name: "wait", nr: abi.SYS_WAIT, params: 2, results: 1, blocking: true },
  { name: "mem_quota_bytes", nr: abi.SYS_MEM_QUOTA_BYTES, params: 0, results: 1, blocking: false },
  { name: "mem_in_use_bytes", nr: abi.SYS_MEM_IN_USE_BYTES, params: 0, results: 1, blocking: false },
  { name: "mem_peak_bytes", nr: abi.SYS_MEM_PEAK_BYTES, params: 0, results: 1, blocking: false },
  { name: "args_get", nr: abi.SYS_ARGS_GET, params: 2, results: 1, blocking: false },
  { name: "wait_any", nr: abi.SYS_WAIT_ANY, params: 3, results: 1, blocking: true },
  { name: "storage_open", nr: abi.SYS_STORAGE_OPEN, params: 3, results: 1, blocking: false },
  { name: "storage_read", nr: abi.SYS_STORAGE_READ, params: 3, results: 1, blocking: false },
  { name: "storage_write", nr: abi.SYS_STORAGE_WRITE, params: 3, results: 1, blocking: false },
  { name: "storage_seek", nr: abi.SYS_STORAGE_SEEK, params: 3, results: 1, blocking: false },
  { name: "storage_truncate", nr: abi.SYS_STORAGE_TRUNCATE, params: 2, results: 1, blocking: false },
  { name: "storage_delete", nr: abi.SYS_STORAGE_DELETE, params: 2, results: 1, blocking: false },
  { name: "storage_usage", nr: abi.SYS_STORAGE_USAGE, params: 0, results: 1, blocking: false },
  { name: "package_open", nr: abi.SYS_PACKAGE_OPEN, params: 2, results: 1, blocking: false },
  { name: "uart_open", nr: abi.SYS_UART_OPEN, params: 2, results: 1, blocking: false },
  { name: "uart_read", nr: abi.SYS_UART_READ, params: 3, results: 1, blocking: false },
  { name: "uart_write", nr: abi.SYS_UART_WRITE, params: 3, results: 1, blocking: false },
  { name: "i2c_open", nr: abi.SYS_I2C_OPEN, params: 1, results: 1, blocking: false },
  { name: "i2c_configure", nr: abi.SYS_I2C_CONFIGURE, params: 3, results: 1, blocking: false },
  { name: "i2c_write", nr: abi.SYS_I2C_WRITE, params: 4, results: 1, blocking: false },
  { name: "i2c_read", nr: abi.SYS_I2C_READ, params: 4, results: 1, blocking: false },
  { name: "i2c_write_read", nr: abi.SYS_I2C_WRITE_READ, params: 3, results: 1, blocking: false },
  { name: "spi_open", nr: abi.SYS_SPI_OPEN, params: 3, results: 1, blocking: false },
  { name: "spi_configure", nr: abi.SYS_SPI_CONFIGURE, params: 2, results: 1, blocking: false },
  { name: "spi_transfer", nr: abi.SYS_SPI_TRANSFER, params: 3, results: 1, blocking: false },
  { name: "adc_open", nr: abi.SYS_ADC_OPEN, params: 1, results: 1, blocking: false },
  { name: "adc_sample_bits", nr: abi.SYS_ADC_SAMPLE_BITS, params: 2, results: 1, blocking: false },
  { name: "adc_set_reference", nr: abi.SYS_ADC_SET_REFERENCE, params: 3, results: 1, blocking: false },
  { name: "adc_poll", nr: abi.SYS_ADC_POLL, params: 2, results: 1, blocking: false },
  { name: "pwm_open", nr: abi.SYS_PWM_OPEN, params: 1, results: 1, blocking: false },
  { name: "pwm_apply", nr: abi.SYS_PWM_APPLY, params: 3, results: 1, blocking: false },
  { name: "channel_open", nr: abi.SYS_CHANNEL_OPEN, params: 2, results: 1, blocking: false },
  { name: "channel_send", nr: abi.SYS_CHANNEL_SEND, params: 3, results: 1, blocking: false },
  { name: "channel_recv", nr: abi.SYS_CHANNEL_RECV, params: 3, results: 1, blocking: false },
  // Blocks until the security processor answers (drivers/crypto.ts).
  { name: "random_bytes", nr: abi.SYS_RANDOM_BYTES, params: 2, results: 1, blocking: true },
  { name: "sha256", nr: abi.SYS_SHA256, params: 3, results: 1, blocking: true },
  { name: "net_connect", nr: abi.SYS_NET_CONNECT, params: 4, results: 1, blocking: false },
  { name: "net_listen", nr: abi.SYS_NET_LISTEN, params: 2, results: 1, blocking: false },
  { name: "net_accept", nr: abi.SYS_NET_ACCEPT, params: 1, results: 1, blocking: false },
  { name: "net_send", nr: abi.SYS_NET_SEND, params: 3, results: 1, blocking: false },
  { name: "net_recv", nr: abi.SYS_NET_RECV, params: 3, results: 1, blocking: false },
  { name: "net_state", nr: abi.SYS_NET_STATE, params: 1, results: 1, blocking: false },
  { name: "net_sendto", nr: abi.SYS_NET_SENDTO, params: 4, results: 1, blocking: false },
  { name: "net_recvfrom", nr: abi.SYS_NET_RECVFROM, params: 4, results: 1, blocking: false },
  { name: "net_status", nr: abi.SYS_NET_STATUS, params: 2, results: 1, blocking: false },
  { name: "net_admin", nr: abi.SYS_NET_ADMIN, params: 3, results: 1, blocking: false },
  { name: "time_get", nr: abi.SYS_TIME_GET, params: 1, results: 1, blocking: false },
  { name: "time_set", nr: abi.SYS_TIME_SET, params: 1, results: 1, blocking: false },
  // Granted, they never return: the caller waits for the device to go down (drivers/systime.ts).
  { name: "power_reboot", nr: abi.SYS_POWER_REBOOT, params: 0, results: 1, blocking: true },
  { name: "power_down", nr: abi.SYS_POWER_DOWN, params: 1, results: 1, blocking: true },
  { name: "update_feed_verify", nr: abi.SYS_UPDATE_FEED_VERIFY, params: 4, results: 1, blocking: true },
  { name: "update_stage_begin", nr: abi.SYS_UPDATE_STAGE_BEGIN, params: 3, results: 1, blocking: false },
  { name: "update_stage_write", nr: abi.SYS_UPDATE_STAGE_WRITE, params: 3, results: 1, blocking: false },
  { name: "update_stage_commit", nr: abi.SYS_UPDATE_STAGE_COMMIT, params: 1, results: 1, blocking: true },
  { name: "update_installed_version", nr: abi.SYS_UPDATE_INSTALLED_VERSION, params: 1, results: 1, blocking: false },
  { name: "update_last_error", nr: abi.SYS_UPDATE_LAST_ERROR, params: 2, results: 1, blocking: false },
  { name: "sysevent_register", nr: abi.SYS_SYSEVENT_REGISTER, params: 1, results: 1, blocking: false },
  { name: "sysevent_info", nr: abi.SYS_SYSEVENT_INFO, params: 2, results: 1, blocking: false },
  { name: "sysevent_defer", nr: abi.SYS_SYSEVENT_DEFER, params: 2, results: 1, blocking: false },
  { name: "sysevent_resume", nr: abi.SYS_SYSEVENT_RESUME, params: 1, results: 1, blocking: false },
];

/** The imports asyncify must let suspend their caller, as the instrumenter names them. */
export const BLOCKING_IMPORT_NAMES: readonly string[] = APP_IMPORTS.filter((i) => i.blocking).map((i) => `applibs.${i.name}`);

/** How the device instruments an app whose memory quota is `quotaBytes` (instrument.ts's options). */
export function appInstrumentOptions(quotaBytes: number): { blockingImports: string[]; quotaBytes: number; runtimeAreaBytes: number; fastSyscalls: boolean } {
  return { blockingImports: [...BLOCKING_IMPORT_NAMES], quotaBytes, runtimeAreaBytes: abi.APP_RUNTIME_AREA_BYTES, fastSyscalls: true };
}
