// applibs: the wasphere app SDK for AssemblyScript.
//
// Typed wrappers over the app ABI (ABI.md, "App imports"). Every function here is a syscall: the
// core checks it against the app's manifest, and a refusal comes back as a negative errno
// (-EACCES = -13), never as a trap. `wasphere run` and `wasphere image-package pack-application`
// build an app with asconfig.json's `app` target (--memoryBase 8192, which keeps the runtime's low
// 8 KiB free, and --use abort=~lib/@wasphere/sdk/applibs/abort, the `abort` below).

@external("applibs", "exit") declare function sys_exit(code: i32): void;
@external("applibs", "yield") declare function sys_yield(): i32;
@external("applibs", "sleep_ms") declare function sys_sleep_ms(ms: i32): i32;
@external("applibs", "clock_ms") declare function sys_clock_ms(): i32;
@external("applibs", "log") declare function sys_log(ptr: usize, len: i32): i32;
@external("applibs", "gpio_open_output") declare function sys_gpio_open_output(pin: i32, initial: i32): i32;
@external("applibs", "gpio_open_input") declare function sys_gpio_open_input(pin: i32): i32;
@external("applibs", "gpio_set") declare function sys_gpio_set(handle: i32, value: i32): i32;
@external("applibs", "gpio_get") declare function sys_gpio_get(handle: i32): i32;
@external("applibs", "close") declare function sys_close(handle: i32): i32;
@external("applibs", "timer_create") declare function sys_timer_create(periodMs: i32): i32;
@external("applibs", "wait") declare function sys_wait(handle: i32, timeoutMs: i32): i32;
@external("applibs", "wait_any") declare function sys_wait_any(handlesPtr: usize, count: i32, timeoutMs: i32): i32;
@external("applibs", "mem_quota_bytes") declare function sys_mem_quota_bytes(): i32;
@external("applibs", "mem_in_use_bytes") declare function sys_mem_in_use_bytes(): i32;
@external("applibs", "mem_peak_bytes") declare function sys_mem_peak_bytes(): i32;
@external("applibs", "args_get") declare function sys_args_get(ptr: usize, len: i32): i32;
@external("applibs", "storage_open") declare function sys_storage_open(namePtr: usize, nameLen: i32, flags: i32): i32;
@external("applibs", "storage_read") declare function sys_storage_read(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "storage_write") declare function sys_storage_write(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "storage_seek") declare function sys_storage_seek(handle: i32, offset: i32, whence: i32): i32;
@external("applibs", "storage_truncate") declare function sys_storage_truncate(handle: i32, size: i32): i32;
@external("applibs", "storage_delete") declare function sys_storage_delete(namePtr: usize, nameLen: i32): i32;
@external("applibs", "storage_usage") declare function sys_storage_usage(): i32;
@external("applibs", "package_open") declare function sys_package_open(pathPtr: usize, pathLen: i32): i32;
@external("applibs", "uart_open") declare function sys_uart_open(id: i32, configPtr: usize): i32;
@external("applibs", "uart_read") declare function sys_uart_read(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "uart_write") declare function sys_uart_write(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "i2c_open") declare function sys_i2c_open(id: i32): i32;
@external("applibs", "i2c_configure") declare function sys_i2c_configure(handle: i32, speedHz: i32, timeoutMs: i32): i32;
@external("applibs", "i2c_write") declare function sys_i2c_write(handle: i32, address: i32, ptr: usize, len: i32): i32;
@external("applibs", "i2c_read") declare function sys_i2c_read(handle: i32, address: i32, ptr: usize, len: i32): i32;
@external("applibs", "i2c_write_read") declare function sys_i2c_write_read(handle: i32, address: i32, descPtr: usize): i32;
@external("applibs", "spi_open") declare function sys_spi_open(id: i32, chipSelect: i32, configPtr: usize): i32;
@external("applibs", "spi_configure") declare function sys_spi_configure(handle: i32, configPtr: usize): i32;
@external("applibs", "spi_transfer") declare function sys_spi_transfer(handle: i32, transfersPtr: usize, count: i32): i32;
@external("applibs", "adc_open") declare function sys_adc_open(id: i32): i32;
@external("applibs", "adc_sample_bits") declare function sys_adc_sample_bits(handle: i32, channel: i32): i32;
@external("applibs", "adc_set_reference") declare function sys_adc_set_reference(handle: i32, channel: i32, microvolts: i32): i32;
@external("applibs", "adc_poll") declare function sys_adc_poll(handle: i32, channel: i32): i32;
@external("applibs", "pwm_open") declare function sys_pwm_open(id: i32): i32;
@external("applibs", "pwm_apply") declare function sys_pwm_apply(handle: i32, channel: i32, statePtr: usize): i32;
@external("applibs", "channel_open") declare function sys_channel_open(idPtr: usize, idLen: i32): i32;
@external("applibs", "channel_send") declare function sys_channel_send(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "channel_recv") declare function sys_channel_recv(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "random_bytes") declare function sys_random_bytes(ptr: usize, len: i32): i32;
@external("applibs", "sha256") declare function sys_sha256(dataPtr: usize, len: i32, outPtr: usize): i32;
@external("applibs", "net_connect") declare function sys_net_connect(protocol: i32, hostPtr: usize, hostLen: i32, port: i32): i32;
@external("applibs", "net_listen") declare function sys_net_listen(protocol: i32, port: i32): i32;
@external("applibs", "net_accept") declare function sys_net_accept(handle: i32): i32;
@external("applibs", "net_send") declare function sys_net_send(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "net_recv") declare function sys_net_recv(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "net_state") declare function sys_net_state(handle: i32): i32;
@external("applibs", "net_sendto") declare function sys_net_sendto(handle: i32, ptr: usize, len: i32, addrPtr: usize): i32;
@external("applibs", "net_recvfrom") declare function sys_net_recvfrom(handle: i32, ptr: usize, len: i32, addrPtr: usize): i32;
@external("applibs", "net_status") declare function sys_net_status(ptr: usize, len: i32): i32;
@external("applibs", "net_admin") declare function sys_net_admin(op: i32, ptr: usize, len: i32): i32;
@external("applibs", "time_get") declare function sys_time_get(ptr: usize): i32;
@external("applibs", "time_set") declare function sys_time_set(ptr: usize): i32;
@external("applibs", "power_reboot") declare function sys_power_reboot(): i32;
@external("applibs", "power_down") declare function sys_power_down(maxSeconds: i32): i32;
@external("applibs", "sysevent_register") declare function sys_sysevent_register(mask: i32): i32;
@external("applibs", "sysevent_info") declare function sys_sysevent_info(handle: i32, ptr: usize): i32;
@external("applibs", "sysevent_defer") declare function sys_sysevent_defer(handle: i32, minutes: i32): i32;
@external("applibs", "sysevent_resume") declare function sys_sysevent_resume(handle: i32): i32;
@external("applibs", "update_feed_verify") declare function sys_update_feed_verify(textPtr: usize, textLen: i32, sigPtr: usize, keyIdPtr: usize): i32;
@external("applibs", "update_stage_begin") declare function sys_update_stage_begin(kind: i32, sizeBytes: i32, descPtr: usize): i32;
@external("applibs", "update_stage_write") declare function sys_update_stage_write(handle: i32, ptr: usize, len: i32): i32;
@external("applibs", "update_stage_commit") declare function sys_update_stage_commit(handle: i32): i32;
@external("applibs", "update_installed_version") declare function sys_update_installed_version(idPtr: usize): i32;
@external("applibs", "update_last_error") declare function sys_update_last_error(ptr: usize, len: i32): i32;

export const EACCES: i32 = -13;
export const EBADF: i32 = -9;
export const ETIMEDOUT: i32 = -110;
export const ENOENT: i32 = -2;
export const EDQUOT: i32 = -122;
export const EAGAIN: i32 = -11;
export const ENXIO: i32 = -6;
export const EPIPE: i32 = -32;
export const EMSGSIZE: i32 = -90;
export const EEXIST: i32 = -17;
export const EINVAL: i32 = -22;
export const ENOSPC: i32 = -28;
export const ENETDOWN: i32 = -100;
export const ECONNREFUSED: i32 = -111;

/** Writes a line to the device log (UTF-8). Returns bytes logged or a negative errno. */
export function log(message: string): i32 {
  const bytes = String.UTF8.encode(message);
  return sys_log(changetype<usize>(bytes), bytes.byteLength);
}

/** Ends the app with an exit code. */
export function exit(code: i32): void { sys_exit(code); }

/** Gives the CPU to the next app of the same priority. */
export function yieldCpu(): void { sys_yield(); }

/** Suspends this app (only this app) for at least `ms` milliseconds. */
export function sleepMs(ms: i32): i32 { return sys_sleep_ms(ms); }

/** Milliseconds since the device booted. */
export function clockMs(): i32 { return sys_clock_ms(); }

export namespace gpio {
  /** Opens a pin granted in the manifest as an output; a handle, or -EACCES / -ENODEV. */
  export function openOutput(pin: i32, initialHigh: bool = false): i32 { return sys_gpio_open_output(pin, initialHigh ? 1 : 0); }
  /** Opens a granted pin as an input; a handle, or -EACCES / -ENODEV. */
  export function openInput(pin: i32): i32 { return sys_gpio_open_input(pin); }
  export function set(handle: i32, high: bool): i32 { return sys_gpio_set(handle, high ? 1 : 0); }
  export function get(handle: i32): i32 { return sys_gpio_get(handle); }
  /**
   * The level the input's oldest change not yet taken left (0 or 1), blocking until there is one
   * (or `timeoutMs` passes: -ETIMEDOUT; -1 waits forever). No change is lost while the app is
   * busy: a press and a release meanwhile are two calls, 1 then 0.
   */
  export function waitChange(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

export namespace timer {
  /** A periodic timer; `wait` on it returns the expirations since the last wait. */
  export function create(periodMs: i32): i32 { return sys_timer_create(periodMs); }
  export function wait(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

export function close(handle: i32): i32 { return sys_close(handle); }

/** The manifest's CmdArgs, as UTF-8 strings. */
export function args(): string[] {
  const out = new Array<string>();
  const total = sys_args_get(0, 0);
  if (total <= 0) return out;
  const buf = new ArrayBuffer(total);
  sys_args_get(changetype<usize>(buf), total);
  let start = 0;
  for (let i = 0; i < total; i++) {
    if (load<u8>(changetype<usize>(buf) + <usize>i) != 0) continue;
    out.push(String.UTF8.decode(buf.slice(start, i)));
    start = i + 1;
  }
  return out;
}

/**
 * Waits on several handles at once (timers, GPIO inputs): the mask of those ready (bit i: the
 * i-th of `handles`), at most 16; -ETIMEDOUT after `timeoutMs` (-1: never), -EBADF for a handle
 * that is not this app's. Takes nothing: take each ready handle's event with `wait(h, 0)`.
 */
export function waitAny(handles: StaticArray<i32>, count: i32 = -1, timeoutMs: i32 = -1): i32 {
  return sys_wait_any(changetype<usize>(handles), count < 0 ? handles.length : count, timeoutMs);
}

/** Takes one event of a waitable handle (wait_any said it is ready): its value, or -ETIMEDOUT. */
export function takeEvent(handle: i32, timeoutMs: i32 = 0): i32 { return sys_wait(handle, timeoutMs); }

/**
 * An event loop over handles, in the manner of Azure Sphere's EventLoop_Create / RegisterIo / Run /
 * Stop: `const loop = eventLoop.create()`, register each handle with a callback, then `loop.run()`.
 * run() waits on every registered handle at once (one wait_any: this app alone is suspended), and
 * for each that is ready takes its event (a timer's expirations, the level a GPIO input's change
 * left) and calls its callback with the loop, the handle and that value, until a callback calls
 * `loop.stop()`. A callback may register and unregister handles; one unregistered before its turn
 * is not called. The loop is an object the app creates, so an app that has none pays nothing.
 */
export namespace eventLoop {
  export const MAX_HANDLES: i32 = 16;
  export type Callback = (loop: Loop, handle: i32, value: i32) => void;

  export class Loop {
    private handles: StaticArray<i32> = new StaticArray<i32>(MAX_HANDLES);
    private ready: StaticArray<i32> = new StaticArray<i32>(MAX_HANDLES);
    private callbacks: Callback[] = [];
    private stopping: bool = false;

    private indexOf(handle: i32): i32 {
      for (let i = 0; i < this.callbacks.length; i++) if (this.handles[i] == handle) return i;
      return -1;
    }

    /** Calls `callback(loop, handle, value)` for each event of `handle`: 0, -EEXIST (registered already), -ENOSPC (16 are). */
    register(handle: i32, callback: Callback): i32 {
      if (this.indexOf(handle) >= 0) return EEXIST;
      if (this.callbacks.length >= MAX_HANDLES) return ENOSPC;
      this.handles[this.callbacks.length] = handle;
      this.callbacks.push(callback);
      return 0;
    }

    /** Forgets `handle`: 0, or -ENOENT when it is not registered. */
    unregister(handle: i32): i32 {
      const at = this.indexOf(handle);
      if (at < 0) return ENOENT;
      for (let i = at; i + 1 < this.callbacks.length; i++) this.handles[i] = this.handles[i + 1];
      this.callbacks.splice(at, 1);
      return 0;
    }

    /** How many handles are registered. */
    get count(): i32 { return this.callbacks.length; }

    /** Asks run() to return once the callback that called this returns. */
    stop(): void { this.stopping = true; }

    /**
     * Runs until a callback calls stop() (0), no handle is registered (0), or a wait fails: its
     * negative errno (-ETIMEDOUT when nothing happened for `timeoutMs`; -1 waits forever).
     */
    run(timeoutMs: i32 = -1): i32 {
      this.stopping = false;
      while (!this.stopping) {
        const n = this.callbacks.length;
        if (n == 0) return 0;
        const mask = sys_wait_any(changetype<usize>(this.handles), n, timeoutMs);
        if (mask < 0) return mask;
        // The ready handles first: a callback may change the registrations.
        let readyCount = 0;
        for (let i = 0; i < n; i++) if ((mask & (1 << i)) != 0) this.ready[readyCount++] = this.handles[i];
        for (let k = 0; k < readyCount && !this.stopping; k++) {
          const handle = this.ready[k];
          const at = this.indexOf(handle);
          if (at < 0) continue;
          const value = sys_wait(handle, 0);
          if (value < 0) continue;
          this.callbacks[at](this, handle, value);
        }
      }
      return 0;
    }
  }

  /** A new loop with no handles (EventLoop_Create). */
  export function create(): Loop { return new Loop(); }
}

export namespace memory_usage {
  export function quotaBytes(): i32 { return sys_mem_quota_bytes(); }
  export function inUseBytes(): i32 { return sys_mem_in_use_bytes(); }
  export function peakBytes(): i32 { return sys_mem_peak_bytes(); }
}

/**
 * Files (ABI.md "Storage"): the app's mutable files (MutableStorage in the manifest) and the
 * files of its own image package. Each read or write moves at most 2048 bytes; readAll and
 * writeAll loop. A write is on flash when it returns.
 */
export namespace storage {
  export const CREATE: i32 = 1;
  export const TRUNCATE: i32 = 2;
  /** Opens (CREATE: creates) the mutable file `name`; a handle, or a negative errno. */
  export function open(name: string, flags: i32 = CREATE): i32 {
    const b = String.UTF8.encode(name);
    return sys_storage_open(changetype<usize>(b), b.byteLength, flags);
  }
  /** Azure Sphere's Storage_OpenMutableFile: the app's one file, "mutable", created if missing. */
  export function openMutableFile(): i32 { return open("mutable", CREATE); }
  /** Azure Sphere's Storage_OpenFileInImagePackage: a read-only file of the app's own package. */
  export function openFileInImagePackage(path: string): i32 {
    const b = String.UTF8.encode(path);
    return sys_package_open(changetype<usize>(b), b.byteLength);
  }
  export function remove(name: string): i32 {
    const b = String.UTF8.encode(name);
    return sys_storage_delete(changetype<usize>(b), b.byteLength);
  }
  export function read(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 {
    return sys_storage_read(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len);
  }
  export function write(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 {
    return sys_storage_write(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len);
  }
  /** Writes all of `buf` (in pieces of at most 2048): its length, or the first negative errno. */
  export function writeAll(handle: i32, buf: ArrayBuffer): i32 {
    let done = 0;
    while (done < buf.byteLength) {
      const n = sys_storage_write(handle, changetype<usize>(buf) + <usize>done, buf.byteLength - done);
      if (n <= 0) return n < 0 ? n : done;
      done += n;
    }
    return done;
  }
  /** The whole file, from its start (the position ends at its end); null on an error. */
  export function readAll(handle: i32): ArrayBuffer | null {
    const size = sys_storage_seek(handle, 0, 2);
    if (size < 0 || sys_storage_seek(handle, 0, 0) < 0) return null;
    const out = new ArrayBuffer(size);
    let done = 0;
    while (done < size) {
      const n = sys_storage_read(handle, changetype<usize>(out) + <usize>done, size - done);
      if (n < 0) return null;
      if (n == 0) break;
      done += n;
    }
    return done == size ? out : out.slice(0, done);
  }
  export function seek(handle: i32, offset: i32, whence: i32 = 0): i32 { return sys_storage_seek(handle, offset, whence); }
  export function truncate(handle: i32, size: i32): i32 { return sys_storage_truncate(handle, size); }
  /** What this app's mutable files cost on flash, in bytes. */
  export function usageBytes(): i32 { return sys_storage_usage(); }
}

/**
 * The interface ids of the board `wasphere device create` describes (SPEC.md, "Hardware
 * definition"), as Azure Sphere's hardware definition headers give them: a syscall names an
 * interface by id, the manifest by name ("ISU0", "ADC-CONTROLLER-0", "PWM-CONTROLLER-0").
 */
export namespace board {
  export const ISU0: i32 = 0;
  export const ISU1: i32 = 1;
  export const ISU2: i32 = 2;
  export const ISU3: i32 = 3;
  export const ISU4: i32 = 4;
  export const ADC_CONTROLLER0: i32 = 5;
  export const PWM_CONTROLLER0: i32 = 6;
}

// Where the peripheral wrappers lay out the records they pass (one call at a time).
const periphRecordAt: usize = memory.data(32, 8);

/** UARTs (ABI.md, "Peripherals"): non-blocking; read and write return -EAGAIN when they cannot move a byte now. */
export namespace uart {
  export const PARITY_NONE: u8 = 0;
  export const PARITY_EVEN: u8 = 1;
  export const PARITY_ODD: u8 = 2;
  export const FLOW_NONE: u8 = 0;
  export const FLOW_RTS_CTS: u8 = 1;
  export const FLOW_XON_XOFF: u8 = 2;
  /** UART_Open: a handle of interface `id` at `baudRate` (8N1 unless told otherwise), or a negative errno. */
  export function open(id: i32, baudRate: u32, dataBits: u8 = 8, parity: u8 = PARITY_NONE, stopBits: u8 = 1, flowControl: u8 = FLOW_NONE): i32 {
    const p = periphRecordAt;
    store<u32>(p, baudRate);
    store<u8>(p, dataBits, 4);
    store<u8>(p, parity, 5);
    store<u8>(p, stopBits, 6);
    store<u8>(p, flowControl, 7);
    return sys_uart_open(id, p);
  }
  export function read(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_uart_read(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  export function write(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_uart_write(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  /** Writes the UTF-8 of `text`: bytes taken, or a negative errno. */
  export function writeString(handle: i32, text: string): i32 { return write(handle, String.UTF8.encode(text)); }
  /** Blocks until received bytes wait to be read (their count), or -ETIMEDOUT; only this app waits. */
  export function waitReadable(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

/** I2C masters: 7-bit target addresses 0x08..0x77; a target that does not answer is -ENXIO. */
export namespace i2c {
  export const SPEED_STANDARD: i32 = 100000;
  export const SPEED_FAST: i32 = 400000;
  export const SPEED_FAST_PLUS: i32 = 1000000;
  export function open(id: i32): i32 { return sys_i2c_open(id); }
  /** I2CMaster_SetBusSpeed and I2CMaster_SetTimeout together. */
  export function configure(handle: i32, speedHz: i32, timeoutMs: i32): i32 { return sys_i2c_configure(handle, speedHz, timeoutMs); }
  export function write(handle: i32, address: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_i2c_write(handle, address, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  export function read(handle: i32, address: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_i2c_read(handle, address, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  /** I2CMaster_WriteThenRead: all of `out`, a repeated start, then all of `into`; the bytes moved, or a negative errno. */
  export function writeThenRead(handle: i32, address: i32, out: ArrayBuffer, into: ArrayBuffer): i32 {
    const p = periphRecordAt;
    store<u32>(p, <u32>changetype<usize>(out));
    store<u32>(p, <u32>out.byteLength, 4);
    store<u32>(p, <u32>changetype<usize>(into), 8);
    store<u32>(p, <u32>into.byteLength, 12);
    return sys_i2c_write_read(handle, address, p);
  }
}

/** SPI masters: half-duplex transfers under one chip select. */
export namespace spi {
  export const WRITE: u32 = 1;
  export const READ: u32 = 2;
  function config(speedHz: u32, mode: u8, lsbFirst: bool): usize {
    const p = periphRecordAt;
    store<u32>(p, speedHz);
    store<u8>(p, mode, 4);
    store<u8>(p, lsbFirst ? 1 : 0, 5);
    store<u16>(p, 0, 6);
    return p;
  }
  export function open(id: i32, chipSelect: i32, speedHz: u32, mode: u8 = 0, lsbFirst: bool = false): i32 { return sys_spi_open(id, chipSelect, config(speedHz, mode, lsbFirst)); }
  export function configure(handle: i32, speedHz: u32, mode: u8 = 0, lsbFirst: bool = false): i32 { return sys_spi_configure(handle, config(speedHz, mode, lsbFirst)); }
  /** SPIMaster_WriteThenRead: writes `out`, then reads `into`, chip select held; the bytes moved. */
  export function writeThenRead(handle: i32, out: ArrayBuffer, into: ArrayBuffer): i32 {
    const p = periphRecordAt;
    store<u32>(p, WRITE);
    store<u32>(p, <u32>changetype<usize>(out), 4);
    store<u32>(p, <u32>out.byteLength, 8);
    store<u32>(p, READ, 12);
    store<u32>(p, <u32>changetype<usize>(into), 16);
    store<u32>(p, <u32>into.byteLength, 20);
    return sys_spi_transfer(handle, p, 2);
  }
  /** SPIMaster_TransferSequential over `count` 12-byte transfers (flags, data pointer, length) at `transfers`. */
  export function transfer(handle: i32, transfers: usize, count: i32): i32 { return sys_spi_transfer(handle, transfers, count); }
}

/** ADC controllers: a sample is 0..2^bits-1 of the reference voltage. */
export namespace adc {
  export function open(id: i32): i32 { return sys_adc_open(id); }
  export function sampleBits(handle: i32, channel: i32): i32 { return sys_adc_sample_bits(handle, channel); }
  export function setReferenceMicrovolts(handle: i32, channel: i32, microvolts: i32): i32 { return sys_adc_set_reference(handle, channel, microvolts); }
  export function poll(handle: i32, channel: i32): i32 { return sys_adc_poll(handle, channel); }
}

/** PWM controllers: a channel's state applies whole or not at all. */
export namespace pwm {
  export const POLARITY_NORMAL: u32 = 0;
  export const POLARITY_INVERSED: u32 = 1;
  export function open(id: i32): i32 { return sys_pwm_open(id); }
  /** PWM_Apply: 0, or -EINVAL with the channel unchanged. */
  export function apply(handle: i32, channel: i32, periodNs: u32, dutyCycleNs: u32, enabled: bool = true, polarity: u32 = POLARITY_NORMAL): i32 {
    const p = periphRecordAt;
    store<u32>(p, periodNs);
    store<u32>(p, dutyCycleNs, 4);
    store<u32>(p, polarity, 8);
    store<u32>(p, enabled ? 1 : 0, 12);
    return sys_pwm_apply(handle, channel, p);
  }
}

/**
 * App-to-app channels (ABI.md, "Channels"): both apps list each other in
 * AllowedApplicationConnections; messages of at most 256 bytes arrive whole and in order.
 */
export namespace channel {
  export const MSG_MAX_BYTES: i32 = 256;
  /** A handle of this app's end of the channel to the app of ComponentId `peerId` (its text form). */
  export function open(peerId: string): i32 {
    const b = String.UTF8.encode(peerId);
    return sys_channel_open(changetype<usize>(b), b.byteLength);
  }
  /** Sends `len` bytes of `buf` (all by default) as one message: its length, -EAGAIN when the partner's queue is full, -EPIPE when it closed. */
  export function send(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_channel_send(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  export function sendString(handle: i32, text: string): i32 { return send(handle, String.UTF8.encode(text)); }
  /** Receives the oldest message into `buf`: its length, -EAGAIN when none, -EPIPE when none will come. */
  export function recv(handle: i32, buf: ArrayBuffer): i32 { return sys_channel_recv(handle, changetype<usize>(buf), buf.byteLength); }
  /** Blocks until a message waits (its length), the partner closed (-EPIPE), or -ETIMEDOUT. */
  export function waitMessage(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

/**
 * Random bytes from the security processor (ABI.md, "Security processor"); no capability needed.
 * Each call blocks this app only, until the processor answers.
 */
export namespace random {
  /** The most bytes one request asks for; bytes() asks in pieces of this size. */
  export const MAX_BYTES: i32 = 256;
  /**
   * Fills all of `buf` with random bytes: its length, or the first -errno (-EAGAIN: too many
   * requests outstanding; -ENODEV: no security processor). On an error the rest of `buf` is unchanged.
   */
  export function bytes(buf: ArrayBuffer): i32 {
    const total = buf.byteLength;
    const base = changetype<usize>(buf);
    for (let at = 0; at < total; at += MAX_BYTES) {
      const n = total - at < MAX_BYTES ? total - at : MAX_BYTES;
      const rc = sys_random_bytes(base + <usize>at, n);
      if (rc < 0) return rc;
    }
    return total;
  }
}

/** SHA-256 by the security processor; no capability needed. Blocks this app only. */
export namespace sha256 {
  export const MAX_BYTES: i32 = 4092;
  export const DIGEST_BYTES: i32 = 32;
  /**
   * The digest of the first `len` bytes of `data` (all by default, at most MAX_BYTES) into the
   * first 32 bytes of `digest`: 32, or -errno (-EINVAL: too long, or `digest` shorter than 32).
   */
  export function digest(data: ArrayBuffer, digest: ArrayBuffer, len: i32 = -1): i32 {
    const n = len < 0 ? data.byteLength : len;
    if (n > data.byteLength || digest.byteLength < DIGEST_BYTES) return EINVAL;
    return sys_sha256(changetype<usize>(data), n, changetype<usize>(digest));
  }
}

/**
 * Sockets (ABI.md, "Networking"): TCP and UDP to the hosts the manifest's AllowedConnections
 * lists (anything else is -EACCES before a packet leaves), and servers on the ports its
 * AllowedTcpServerPorts / AllowedUdpServerPorts list. Nothing blocks but the waits: a connect
 * returns a handle at once and becomes writable (or fails) later; sends and receives that cannot
 * move bytes now are -EAGAIN. A socket handle works with wait, waitAny and eventLoop.
 */
export namespace net {
  export const TCP: i32 = 1;
  export const UDP: i32 = 2;
  export const STATE_CONNECTED: i32 = 1;
  export const STATE_READABLE: i32 = 2;
  export const STATE_WRITABLE: i32 = 4;
  export const STATE_EOF: i32 = 8;
  export const STATE_LISTENING: i32 = 16;
  export const ADDR_BYTES: i32 = 20;
  export const STATUS_BYTES: i32 = 32;

  /** A socket to `host` (a name or an address) on `port`: its handle, or -errno (-EACCES: not allowed; -ENETDOWN: networking not ready). */
  export function connect(host: string, port: i32, protocol: i32 = TCP): i32 {
    const b = String.UTF8.encode(host);
    return sys_net_connect(protocol, changetype<usize>(b), b.byteLength, port);
  }
  /** Listens on `port` (declared in the manifest): a handle, or -errno. */
  export function listen(port: i32, protocol: i32 = TCP): i32 { return sys_net_listen(protocol, port); }
  /** A connection waiting on TCP listener `handle`: its handle, or -EAGAIN. */
  export function accept(handle: i32): i32 { return sys_net_accept(handle); }
  /** Sends from `buf` (`len` bytes, all by default): bytes taken (perhaps fewer), -EAGAIN, or -errno. */
  export function send(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_net_send(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  export function sendString(handle: i32, text: string): i32 { return send(handle, String.UTF8.encode(text)); }
  /** Receives into `buf`: bytes, 0 at the end of the stream, -EAGAIN when none yet, or the socket's -errno. */
  export function recv(handle: i32, buf: ArrayBuffer, len: i32 = -1): i32 { return sys_net_recv(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len); }
  /** send and recv on the bytes of a typed array (a view anywhere in its buffer). */
  export function sendBytes(handle: i32, data: Uint8Array): i32 { return sys_net_send(handle, data.dataStart, data.length); }
  export function recvBytes(handle: i32, data: Uint8Array): i32 { return sys_net_recv(handle, data.dataStart, data.length); }
  /** STATE_* bits, or the socket's -errno (-ECONNREFUSED, ...). */
  export function state(handle: i32): i32 { return sys_net_state(handle); }
  /** Blocks until the socket is readable, at its end, failed, or writable after a connect or a refused send: its state, or -ETIMEDOUT. */
  export function waitReady(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
  /** UDP listeners: a datagram to the ADDR_BYTES address `addr` (the last sender, or an allowed host). */
  export function sendTo(handle: i32, buf: ArrayBuffer, addr: ArrayBuffer, len: i32 = -1): i32 {
    return sys_net_sendto(handle, changetype<usize>(buf), len < 0 ? buf.byteLength : len, changetype<usize>(addr));
  }
  /** UDP listeners: the next datagram into `buf`, its sender into `addr` (ADDR_BYTES): its length, or -EAGAIN. */
  export function recvFrom(handle: i32, buf: ArrayBuffer, addr: ArrayBuffer): i32 {
    if (addr.byteLength < ADDR_BYTES) return EINVAL;
    return sys_net_recvfrom(handle, changetype<usize>(buf), buf.byteLength, changetype<usize>(addr));
  }
  const statusAt: usize = memory.data(32, 8);
  /** Networking_IsNetworkingReady: has the network manager said networking is up? */
  export function isReady(): bool { return sys_net_status(statusAt, STATUS_BYTES) == STATUS_BYTES && load<u8>(statusAt) == 1; }
  /** The interface the network manager published: its name and IPv4 address, as "name a.b.c.d" ("" when none). */
  export function interfaceText(): string {
    if (sys_net_status(statusAt, STATUS_BYTES) != STATUS_BYTES || load<u8>(statusAt, 1) == 0) return "";
    let name = "";
    for (let i = 8; i < 32 && load<u8>(statusAt + <usize>i) != 0; i++) name += String.fromCharCode(load<u8>(statusAt + <usize>i));
    return name + " " + load<u8>(statusAt, 4).toString() + "." + load<u8>(statusAt, 5).toString() + "." + load<u8>(statusAt, 6).toString() + "." + load<u8>(statusAt, 7).toString();
  }
  /** Waits (sleeping, so only this app waits) until networking is ready: true, or false after `timeoutMs`. */
  export function waitUntilReady(timeoutMs: i32, pollMs: i32 = 50): bool {
    const start = sys_clock_ms();
    while (!isReady()) {
      if (sys_clock_ms() - start >= timeoutMs) return false;
      sys_sleep_ms(pollMs);
    }
    return true;
  }
  /** The network manager's (a system app's) own calls; any other app is refused with -EACCES. */
  export function adminProbe(record: ArrayBuffer): i32 { return sys_net_admin(1, changetype<usize>(record), record.byteLength); }
  export function adminPublish(record: ArrayBuffer): i32 { return sys_net_admin(2, changetype<usize>(record), record.byteLength); }
}

/**
 * System events (ABI.md, "System events"; Azure Sphere's sysevent.h): with
 * `SystemEventNotifications: true` an app registers for the update-ready event and is told each
 * status of an update (pending, final, deferred, complete); with `SoftwareUpdateDeferral: true`
 * too, it may defer a pending update (up to the minutes the info says) or resume a deferred one.
 * A registration is a handle: wait on it (wait, waitAny, eventLoop) for the next status, then
 * read it with `info`.
 */
export namespace sysevent {
  export const UPDATE_READY_FOR_INSTALL: i32 = 1;
  export const STATUS_PENDING: i32 = 1;
  export const STATUS_FINAL: i32 = 2;
  export const STATUS_DEFERRED: i32 = 3;
  export const STATUS_COMPLETE: i32 = 4;
  export const UPDATE_APP: i32 = 1;
  export const UPDATE_OS: i32 = 2;
  const infoAt: usize = memory.data(16, 4);
  /** Registers this app's task for the update-ready event: a handle, or -errno (-EACCES without the capability, -EBUSY registered already). */
  export function register(): i32 { return sys_sysevent_register(UPDATE_READY_FOR_INSTALL); }
  /** Reads the status not yet read: the event, or -EAGAIN when nothing changed; then status(), updateType(), maxDeferralMinutes() tell it. */
  export function info(handle: i32): i32 { return sys_sysevent_info(handle, infoAt); }
  export function status(): i32 { return load<i32>(infoAt, 4); }
  export function updateType(): i32 { return load<i32>(infoAt, 8); }
  export function maxDeferralMinutes(): i32 { return load<i32>(infoAt, 12); }
  /** Defers the pending update by `minutes` (1 to maxDeferralMinutes): 0, or -errno. */
  export function defer(handle: i32, minutes: i32): i32 { return sys_sysevent_defer(handle, minutes); }
  /** Lets a deferred update go on now: 0, or -errno. */
  export function resume(handle: i32): i32 { return sys_sysevent_resume(handle); }
  /** Blocks until a status not yet read waits (the event), or -ETIMEDOUT after `timeoutMs` (-1: forever); takes nothing. */
  export function wait(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

/**
 * The update agent's calls (ABI.md "Updates"): only an app holding UpdateAgent, a system app of
 * the OS image, may make them; any other is refused with -EACCES.
 */
export namespace update {
  export const KIND_APP: i32 = 1;
  export const KIND_CORE: i32 = 2;
  export const WRITE_MAX_BYTES: i32 = 2048;
  /** The core checks the feed manifest `text` (its exact signed bytes), signed `signature` (64) by key `keyId` (16): its Sequence, or -errno. */
  export function feedVerify(text: Uint8Array, signature: Uint8Array, keyId: Uint8Array): i32 {
    if (signature.length != 64 || keyId.length != 16) return -22;
    return sys_update_feed_verify(text.dataStart, text.length, signature.dataStart, keyId.dataStart);
  }
  /** Begins staging `sizeBytes` of `kind` for ComponentId `componentId` (16 bytes) with SHA-256 `sha256` (32): a handle, or -errno. */
  export function begin(kind: i32, sizeBytes: i32, componentId: Uint8Array, sha256: Uint8Array): i32 {
    if (componentId.length != 16 || sha256.length != 32) return -22;
    const desc = new Uint8Array(48);
    desc.set(componentId, 0);
    desc.set(sha256, 16);
    return sys_update_stage_begin(kind, sizeBytes, desc.dataStart);
  }
  /** Appends `len` bytes of `data` from `offset` (at most WRITE_MAX_BYTES): the bytes staged so far, or -errno. */
  export function write(handle: i32, data: Uint8Array, offset: i32, len: i32): i32 {
    if (offset < 0 || len < 0 || offset + len > data.length) return -22;
    return sys_update_stage_write(handle, data.dataStart + <usize>offset, len);
  }
  /** Has the core check and apply what was staged: the list entry it now is, or -errno. */
  export function commit(handle: i32): i32 { return sys_update_stage_commit(handle); }
  /** The installed VERSION of ComponentId `componentId` (16 bytes), or -ENOENT. */
  export function installedVersion(componentId: Uint8Array): i32 {
    if (componentId.length != 16) return -22;
    return sys_update_installed_version(componentId.dataStart);
  }
  /** The core's one-line reason for the last refusal of an update call. */
  export function lastError(): string {
    const buf = new Uint8Array(256);
    const n = sys_update_last_error(buf.dataStart, buf.length);
    return n > 0 ? String.UTF8.decodeUnsafe(buf.dataStart, <usize>n) : "";
  }
}

/** The app's `abort`: log why, then trap, which ends this app only. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  if (message != null) log("abort: " + message + (fileName != null ? " at " + fileName + ":" + line.toString() : ""));
  unreachable();
}

/**
 * The device's UTC clock (ABI.md, "Time and power"): one clock for the whole device. Every app
 * reads it (no capability, as clock_gettime(CLOCK_REALTIME)); only an app whose manifest has
 * `"SystemTime": true` sets it (as clock_settime), and every app then reads the new time.
 */
export namespace time {
  const cellAt: usize = memory.data(8, 8);
  /** UTC milliseconds since the Unix epoch. */
  export function nowMs(): i64 {
    sys_time_get(cellAt);
    return load<i64>(cellAt);
  }
  /** Sets the device's clock to `utcMs` (0 to 9999-12-31T23:59:59.999Z): 0, -EACCES without SystemTime, -EINVAL out of range. */
  export function set(utcMs: i64): i32 {
    store<i64>(cellAt, utcMs);
    return sys_time_set(cellAt);
  }
}

/**
 * Power controls (ABI.md, "Time and power"), for an app whose manifest has `"PowerControls": true`:
 * PowerManagement_ForceSystemReboot and PowerManagement_ForceSystemPowerDown. Granted, neither
 * returns: the device stops every app and boots again. Refused, they return -EACCES.
 */
export namespace power {
  /** Reboots the device. Returns only on a refusal (-EACCES). */
  export function reboot(): i32 { return sys_power_reboot(); }
  /** Powers the device down for at most `maxSeconds` (0 to 86400), then boots it. Returns only on a refusal (-EACCES, -EINVAL). */
  export function powerDown(maxSeconds: i32): i32 { return sys_power_down(maxSeconds); }
}
