// The driver registry: every syscall number in abi.ts (0..SYS_COUNT-1, which tests/host/abi.test
// ties to the SYS_* names) is routed to exactly one unit, nothing past them is, and no handle kind
// or number is claimed twice.
import { SYS_COUNT, SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_GET, SYS_CLOSE, SYS_WAIT, SYS_LOG, SYS_TIMER_CREATE, SYS_EXIT, SYS_WAIT_ANY, SYS_STORAGE_OPEN, SYS_STORAGE_WRITE, SYS_PACKAGE_OPEN,
  SYS_YIELD, SYS_SLEEP_MS, SYS_CLOCK_MS, SYS_MEM_QUOTA_BYTES, SYS_MEM_IN_USE_BYTES, SYS_MEM_PEAK_BYTES, SYSCALL_FUEL,
  SYS_TIME_GET, SYS_TIME_SET, SYS_POWER_REBOOT, SYS_POWER_DOWN, SYS_SYSEVENT_REGISTER, SYS_SYSEVENT_INFO, SYS_SYSEVENT_DEFER, SYS_SYSEVENT_RESUME } from "../../assembly/abi";
import { OP_FUEL } from "../../assembly/drivers/unit";
import {
  driversOwning, driversConflicts, driverOf, driverFuelFlat, unitOp, kindsAll, kindsWaitable,
  UNIT_NONE, UNIT_PROCESS, UNIT_LOG, UNIT_GPIO, UNIT_TIMER, UNIT_HANDLE, UNIT_STORAGE,
} from "../../assembly/drivers/registry";
import { HANDLE_GPIO_OUT, HANDLE_GPIO_IN } from "../../assembly/drivers/gpio";
import { HANDLE_TIMER } from "../../assembly/drivers/timer";
import { HANDLE_STORAGE, HANDLE_PACKAGE_FILE } from "../../assembly/drivers/storage";
import { HANDLE_UART } from "../../assembly/drivers/uart";
import { HANDLE_I2C } from "../../assembly/drivers/i2c";
import { HANDLE_SPI } from "../../assembly/drivers/spi";
import { HANDLE_ADC } from "../../assembly/drivers/adc";
import { HANDLE_PWM } from "../../assembly/drivers/pwm";
import { HANDLE_CHANNEL } from "../../assembly/drivers/channel";
import { HANDLE_SOCKET } from "../../assembly/drivers/net";
import { HANDLE_SYSEVENT } from "../../assembly/drivers/sysevent";
import { HANDLE_UPDATE } from "../../assembly/drivers/update";
import { boot } from "./kernel-support";

describe("drivers: routing", () => {
  it("routes every SYS_* number to exactly one unit, and the reserved gap to none", () => {
    boot();
    expect(driversConflicts()).toBe(0);
    for (let nr = 0; nr < SYS_COUNT; nr++) {
      // SYS_WAIT_ANY + 1 .. SYS_STORAGE_OPEN - 1 are reserved (abi.ts).
      const reserved = nr > SYS_WAIT_ANY && nr < SYS_STORAGE_OPEN;
      expect(driversOwning(nr)).toBe(reserved ? 0 : 1, "units owning syscall " + nr.toString());
      if (reserved) expect(driverOf(nr)).toBe(UNIT_NONE, "syscall " + nr.toString());
      else expect(driverOf(nr)).not.toBe(UNIT_NONE, "syscall " + nr.toString());
    }
    expect(driversOwning(SYS_COUNT)).toBe(0);
    expect(driversOwning(-1)).toBe(0);
  });

  it("routes each call to the unit that implements it", () => {
    boot();
    expect(driverOf(SYS_EXIT)).toBe(UNIT_PROCESS);
    expect(driverOf(SYS_LOG)).toBe(UNIT_LOG);
    expect(driverOf(SYS_GPIO_OPEN_OUTPUT)).toBe(UNIT_GPIO);
    expect(driverOf(SYS_GPIO_GET)).toBe(UNIT_GPIO);
    expect(driverOf(SYS_TIMER_CREATE)).toBe(UNIT_TIMER);
    expect(driverOf(SYS_CLOSE)).toBe(UNIT_HANDLE);
    expect(driverOf(SYS_WAIT)).toBe(UNIT_HANDLE);
    expect(driverOf(SYS_WAIT_ANY)).toBe(UNIT_HANDLE);
    expect(driverOf(SYS_STORAGE_OPEN)).toBe(UNIT_STORAGE);
    expect(driverOf(SYS_STORAGE_WRITE)).toBe(UNIT_STORAGE);
    expect(driverOf(SYS_PACKAGE_OPEN)).toBe(UNIT_STORAGE);
  });

  it("knows exactly the units' handle kinds, and which of them offer a wake source", () => {
    boot();
    expect(kindsAll()).toBe((1 << HANDLE_GPIO_OUT) | (1 << HANDLE_GPIO_IN) | (1 << HANDLE_TIMER) | (1 << HANDLE_STORAGE) | (1 << HANDLE_PACKAGE_FILE)
      | (1 << HANDLE_UART) | (1 << HANDLE_I2C) | (1 << HANDLE_SPI) | (1 << HANDLE_ADC) | (1 << HANDLE_PWM) | (1 << HANDLE_CHANNEL) | (1 << HANDLE_SOCKET)
      | (1 << HANDLE_UPDATE) | (1 << HANDLE_SYSEVENT));
    expect(kindsWaitable()).toBe((1 << HANDLE_GPIO_IN) | (1 << HANDLE_TIMER) | (1 << HANDLE_UART) | (1 << HANDLE_CHANNEL) | (1 << HANDLE_SOCKET)
      | (1 << HANDLE_SYSEVENT));
  });

  it("skips the fuel rule only for numbers whose unit's rule answers SYSCALL_FUEL for every argument and result", () => {
    boot();
    const flat: i32[] = [];
    for (let nr = 0; nr < SYS_COUNT; nr++) {
      if (!driverFuelFlat(nr)) continue;
      flat.push(nr);
      const a1s: i32[] = [0, 1, 7, 100, 65536, -1];
      const results: i32[] = [0, 1, 4, 100, 65536, -9, -14, -22];
      for (let i = 0; i < a1s.length; i++) {
        for (let j = 0; j < results.length; j++) {
          expect(unitOp(driverOf(nr), OP_FUEL, 1, 0, nr, 3, a1s[i], results[j], 0)).toBe(SYSCALL_FUEL, "fuel of syscall " + nr.toString());
        }
      }
    }
    // The ones asked once per reset, and no number whose fuel depends on what happened.
    const expected: i32[] = [SYS_EXIT, SYS_YIELD, SYS_SLEEP_MS, SYS_CLOCK_MS, SYS_GPIO_GET, SYS_MEM_QUOTA_BYTES, SYS_MEM_IN_USE_BYTES, SYS_MEM_PEAK_BYTES,
      SYS_TIME_GET, SYS_TIME_SET, SYS_POWER_REBOOT, SYS_POWER_DOWN, SYS_SYSEVENT_REGISTER, SYS_SYSEVENT_INFO, SYS_SYSEVENT_DEFER, SYS_SYSEVENT_RESUME];
    expect(flat.length).toBe(expected.length);
    for (let i = 0; i < flat.length; i++) expect(flat[i]).toBe(expected[i]);
    expect(driverFuelFlat(SYS_LOG)).toBe(false);
    expect(driverFuelFlat(SYS_GPIO_OPEN_OUTPUT)).toBe(false);
  });
});
