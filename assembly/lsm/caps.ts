// caps: what an app has been granted, as values.
//
// What it is: one CapSet row per app slot, filled once at install from the manifest and read by
// the security hook on every syscall. A class mask says which kinds of resource the app may use
// at all; per-class fields say which ones: a bitmap of MAX_GPIO_PINS pins, one bitmap of board
// interface ids (board/board.ts) per peripheral function, the storage quota, and the counts of
// the network allowlist and the apps it may talk to. Strings are never compared after install.
// Invariants: a row is all zeros (nothing granted) unless the app in that slot is installed;
// CAP_COMPUTE and CAP_LOG are set for every installed app.
// Budget: CAPS_TABLE_BYTES static bytes (MAX_APPS rows + one staging row for the parser).
// Must not: allocate, or grant anything the manifest did not list.
import { MAX_APPS, MAX_GPIO_PINS, CHANNEL_PEERS_MAX, NET_SERVER_PORTS_MAX, NET_TCP, BOARD_MAX_INTERFACES, PERIPH_UART, PERIPH_I2C, PERIPH_SPI, PERIPH_ADC, PERIPH_PWM } from "../abi";

// Classes (bits of CapSet.classMask).
export const CAP_COMPUTE: u32 = 1 << 0;   // exit, yield, sleep, clock, timers, wait, mem_*, args_get
export const CAP_LOG: u32 = 1 << 1;
export const CAP_GPIO: u32 = 1 << 2;
export const CAP_UART: u32 = 1 << 3;
export const CAP_I2C: u32 = 1 << 4;
export const CAP_SPI: u32 = 1 << 5;
export const CAP_ADC: u32 = 1 << 6;
export const CAP_PWM: u32 = 1 << 7;
export const CAP_NETWORK: u32 = 1 << 8;
export const CAP_APP_CONNECTIONS: u32 = 1 << 9;
export const CAP_STORAGE: u32 = 1 << 10;
// AllowedTcpServerPorts / AllowedUdpServerPorts: the ports are in the row (capsServesPort).
export const CAP_NET_SERVER: u32 = 1 << 11;
// The network manager's: publishing the device's networking status (net_admin). Only a system
// app installed from the OS image (app_install_system) can hold it; no user manifest can ask.
export const CAP_NET_ADMIN: u32 = 1 << 12;
// SystemTime: true: setting the device's UTC clock (time_set).
export const CAP_SYSTEM_TIME: u32 = 1 << 13;
// PowerControls: true: rebooting or powering down the device (power_reboot, power_down).
export const CAP_POWER_CONTROLS: u32 = 1 << 14;
// SystemEventNotifications: true: sysevent_register and sysevent_info (drivers/sysevent.ts).
export const CAP_SYSEVENT: u32 = 1 << 20;
// SoftwareUpdateDeferral: true (with SystemEventNotifications): sysevent_defer and sysevent_resume.
export const CAP_UPDATE_DEFERRAL: u32 = 1 << 21;
// The update agent's: having feeds verified and updates staged (drivers/update.ts). Only a system
// app of the OS image can hold it (app_install_system); a user manifest asking for it is refused.
export const CAP_UPDATE: u32 = 1 << 15;
// What every installed app holds without asking.
export const CAP_BASELINE: u32 = CAP_COMPUTE | CAP_LOG;

@unmanaged
export class CapSet {
  classMask: u32;
  // MAX_GPIO_PINS (128) bits, pin n in word n/32; a larger MAX_GPIO_PINS needs more words here.
  gpio0: u32; gpio1: u32; gpio2: u32; gpio3: u32;
  uartMask: u32;          // bit `id`: board interface `id`, granted as a UART
  i2cMask: u32;
  spiMask: u32;
  adcMask: u32;
  pwmMask: u32;
  storageQuotaBytes: i32; // MutableStorage.SizeKB
  connectionCount: i32;   // AllowedConnections entries (their canonical forms are in the app's strings block)
  allowBytes: i32;        // the bytes of those forms there, a length byte each (net/allow.ts)
  // AllowedTcpServerPorts then AllowedUdpServerPorts: NET_SERVER_PORTS_MAX u16 each, 0 unused.
  tcpPorts: u64;
  udpPorts: u64;
  appConnectionCount: i32; // AllowedApplicationConnections entries (ComponentIds, below)
  // AllowedApplicationConnections: CHANNEL_PEERS_MAX ComponentIds (hi, lo), the first appConnectionCount used.
  peer0Hi: u64; peer0Lo: u64; peer1Hi: u64; peer1Lo: u64;
  peer2Hi: u64; peer2Lo: u64; peer3Hi: u64; peer3Lo: u64;
}

const ROW_BYTES: usize = offsetof<CapSet>();
export const CAPS_ROW_BYTES: i32 = <i32>ROW_BYTES;
// Row MAX_APPS is the parser's staging row: a manifest is parsed there, then copied to its slot.
const rows = memory.data((MAX_APPS + 1) * <i32>ROW_BYTES, 4);
export const CAPS_TABLE_BYTES: i32 = (MAX_APPS + 1) * <i32>ROW_BYTES;
export const CAPS_STAGING: i32 = MAX_APPS;

/** The capability row of slot `slot` (0..MAX_APPS-1) or of the staging row (CAPS_STAGING). */
export function capsOf(slot: i32): CapSet {
  return changetype<CapSet>(rows + <usize>slot * ROW_BYTES);
}

export function capsClear(slot: i32): void {
  memory.fill(rows + <usize>slot * ROW_BYTES, 0, ROW_BYTES);
}

export function capsCopy(fromSlot: i32, toSlot: i32): void {
  memory.copy(rows + <usize>toSlot * ROW_BYTES, rows + <usize>fromSlot * ROW_BYTES, ROW_BYTES);
}

export function capsResetAll(): void {
  memory.fill(rows, 0, <usize>CAPS_TABLE_BYTES);
}

function pinWordAddr(caps: CapSet, pin: i32): usize {
  return changetype<usize>(caps) + offsetof<CapSet>("gpio0") + (<usize>(pin >> 5) << 2);
}

/** True when `pin` is granted. Pins outside 0..MAX_GPIO_PINS-1 are never granted. */
export function capsHasPin(caps: CapSet, pin: i32): bool {
  if (pin < 0 || pin >= MAX_GPIO_PINS) return false;
  return (load<u32>(pinWordAddr(caps, pin)) & (1 << (pin & 31))) != 0;
}

/** Grants `pin` (0..MAX_GPIO_PINS-1, checked by the caller). */
export function capsAddPin(caps: CapSet, pin: i32): void {
  const addr = pinWordAddr(caps, pin);
  store<u32>(addr, load<u32>(addr) | (1 << (pin & 31)));
  caps.classMask |= CAP_GPIO;
}

/** Does `caps` list the app of ComponentId (hi, lo) in AllowedApplicationConnections? */
export function capsListsPeer(caps: CapSet, hi: u64, lo: u64): bool {
  const base = changetype<usize>(caps) + offsetof<CapSet>("peer0Hi");
  for (let i = 0; i < caps.appConnectionCount; i++) {
    if (load<u64>(base + <usize>(i << 4)) == hi && load<u64>(base + <usize>(i << 4), 8) == lo) return true;
  }
  return false;
}

/** Adds ComponentId (hi, lo) to `caps`' AllowedApplicationConnections: false when it is full. */
export function capsAddPeer(caps: CapSet, hi: u64, lo: u64): bool {
  const n = caps.appConnectionCount;
  if (n >= CHANNEL_PEERS_MAX) return false;
  const at = changetype<usize>(caps) + offsetof<CapSet>("peer0Hi") + <usize>(n << 4);
  store<u64>(at, hi);
  store<u64>(at, lo, 8);
  caps.appConnectionCount = n + 1;
  caps.classMask |= CAP_APP_CONNECTIONS;
  return true;
}

/** The mask field of `caps` for PERIPH_* function `fn` (one bit), or 0 for another value. */
function interfaceMaskAddr(caps: CapSet, fn: i32): usize {
  const base = changetype<usize>(caps);
  if (fn == PERIPH_UART) return base + offsetof<CapSet>("uartMask");
  if (fn == PERIPH_I2C) return base + offsetof<CapSet>("i2cMask");
  if (fn == PERIPH_SPI) return base + offsetof<CapSet>("spiMask");
  if (fn == PERIPH_ADC) return base + offsetof<CapSet>("adcMask");
  if (fn == PERIPH_PWM) return base + offsetof<CapSet>("pwmMask");
  return 0;
}

/** The CAP_* class of PERIPH_* function `fn`. */
export function capClassOf(fn: i32): u32 {
  if (fn == PERIPH_UART) return CAP_UART;
  if (fn == PERIPH_I2C) return CAP_I2C;
  if (fn == PERIPH_SPI) return CAP_SPI;
  if (fn == PERIPH_ADC) return CAP_ADC;
  if (fn == PERIPH_PWM) return CAP_PWM;
  return 0;
}

/** True when interface `id` (0..BOARD_MAX_INTERFACES-1) is granted for function `fn`. */
export function capsHasInterface(caps: CapSet, fn: i32, id: i32): bool {
  const addr = interfaceMaskAddr(caps, fn);
  if (addr == 0 || id < 0 || id >= BOARD_MAX_INTERFACES) return false;
  return (load<u32>(addr) & (1 << id)) != 0;
}

/** The PERIPH_* function interface `id` is granted for, 0 when none. */
export function capsInterfaceFunction(caps: CapSet, id: i32): i32 {
  for (let fn = PERIPH_UART; fn <= PERIPH_PWM; fn <<= 1) if (capsHasInterface(caps, fn, id)) return fn;
  return 0;
}

/** Grants interface `id` (0..BOARD_MAX_INTERFACES-1, checked by the caller) for function `fn`. */
export function capsAddInterface(caps: CapSet, fn: i32, id: i32): void {
  const addr = interfaceMaskAddr(caps, fn);
  if (addr == 0) return;
  store<u32>(addr, load<u32>(addr) | (1 << id));
  caps.classMask |= capClassOf(fn);
}

/** Does `caps` declare server port `port` (1..65535) for protocol NET_TCP or NET_UDP? */
export function capsServesPort(caps: CapSet, protocol: i32, port: i32): bool {
  if (port <= 0 || port > 0xffff) return false;
  const at = changetype<usize>(caps) + (protocol == NET_TCP ? offsetof<CapSet>("tcpPorts") : offsetof<CapSet>("udpPorts"));
  for (let i = 0; i < NET_SERVER_PORTS_MAX; i++) if (<i32>load<u16>(at + <usize>(i << 1)) == port) return true;
  return false;
}

/** Declares server port `port` (1..65535) for `protocol`: false when the list is full. */
export function capsAddPort(caps: CapSet, protocol: i32, port: i32): bool {
  const at = changetype<usize>(caps) + (protocol == NET_TCP ? offsetof<CapSet>("tcpPorts") : offsetof<CapSet>("udpPorts"));
  for (let i = 0; i < NET_SERVER_PORTS_MAX; i++) {
    if (load<u16>(at + <usize>(i << 1)) != 0) continue;
    store<u16>(at + <usize>(i << 1), <u16>port);
    caps.classMask |= CAP_NET_SERVER;
    return true;
  }
  return false;
}

/** The `i`th (0..NET_SERVER_PORTS_MAX-1) server port `caps` declares for `protocol`, 0 when none. */
export function capsPortAt(caps: CapSet, protocol: i32, i: i32): i32 {
  const at = changetype<usize>(caps) + (protocol == NET_TCP ? offsetof<CapSet>("tcpPorts") : offsetof<CapSet>("udpPorts"));
  return <i32>load<u16>(at + <usize>(i << 1));
}
