// The board table (assembly/board/board.ts) and its kernel export board-add: every refusal with
// its errno and message, ids in call order, pins that belong to one interface, and the export's
// order rules (after boot, before any install).
import { EINVAL, EEXIST, ENOSPC, ENODEV, EBUSY, BOARD_MAX_INTERFACES, PERIPH_UART, PERIPH_I2C, PERIPH_ADC, PERIPH_PWM } from "../../assembly/abi";
import { boardAdd, boardCount, boardFind, boardHasPin, boardPinInterface, boardChannels, boardServes } from "../../assembly/board/board";
import { board_add } from "../../assembly/exports";
import { cabi_realloc } from "../../assembly/cabi";
import { boot, install, lastError, manifest } from "./kernel-support";

/** Adds `name` with `pins` (bytes) on a 96-pin device, as board_add's body does. */
function add(name: string, functions: i32, channels: i32, pins: u8[] = []): i32 {
  const b = String.UTF8.encode(name);
  const p = new ArrayBuffer(pins.length);
  for (let i = 0; i < pins.length; i++) store<u8>(changetype<usize>(p) + <usize>i, pins[i]);
  return boardAdd(changetype<usize>(b), b.byteLength, functions, channels, changetype<usize>(p), pins.length, 96);
}

/** board_add as the host calls it: both lists lowered into the cabi arena. */
function exported(name: string, functions: i32, channels: i32): i32 {
  const b = String.UTF8.encode(name);
  const np = cabi_realloc(0, 0, 1, <usize>b.byteLength);
  memory.copy(np, changetype<usize>(b), <usize>b.byteLength);
  const pp = cabi_realloc(0, 0, 1, 0);
  return board_add(np, b.byteLength, functions, channels, pp, 0);
}

describe("board", () => {
  it("gives ids in call order and answers what each interface is", () => {
    boot();
    expect(add("ISU0", PERIPH_UART | PERIPH_I2C, 0, [26, 27])).toBe(0);
    expect(add("ADC-CONTROLLER-0", PERIPH_ADC, 8, [41])).toBe(1);
    expect(boardCount()).toBe(2);
    expect(boardServes(0, PERIPH_I2C)).toBe(true);
    expect(boardServes(0, PERIPH_ADC)).toBe(false);
    expect(boardServes(2, PERIPH_UART)).toBe(false);
    expect(boardChannels(1)).toBe(8);
    expect(boardHasPin(0, 27)).toBe(true);
    expect(boardHasPin(0, 28)).toBe(false);
    expect(boardPinInterface(41)).toBe(1);
    expect(boardPinInterface(40)).toBe(-1);
    const isu = String.UTF8.encode("ISU0");
    expect(boardFind(changetype<usize>(isu), 4, PERIPH_UART)).toBe(0);
    expect(boardFind(changetype<usize>(isu), 4, PERIPH_ADC)).toBe(-1);
  });
  it("refuses each bad interface with its errno and a message, adding nothing", () => {
    boot();
    expect(add("", PERIPH_UART, 0)).toBe(-EINVAL);
    expect(add("ISU 0", PERIPH_UART, 0)).toBe(-EINVAL);
    expect(lastError()).toBe("board_add: an interface name is 1 to 24 bytes of letters, digits, '_' and '-'");
    expect(add("A23456789012345678901234X", PERIPH_UART, 0)).toBe(-EINVAL);
    expect(add("U", 0, 0)).toBe(-EINVAL);
    expect(add("U", 1 << 5, 0)).toBe(-EINVAL);
    expect(add("U", PERIPH_UART, 1)).toBe(-EINVAL);
    expect(lastError()).toBe("board_add: U: only an ADC or PWM interface has channels, not 1");
    expect(add("P", PERIPH_PWM, 0)).toBe(-EINVAL);
    expect(add("P", PERIPH_PWM, 33)).toBe(-EINVAL);
    expect(lastError()).toBe("board_add: P: an ADC or PWM interface has 1 to 32 channels, not 33");
    expect(add("U", PERIPH_UART, 0, [96])).toBe(-ENODEV);
    expect(lastError()).toBe("board_add: U: pin 96 is not a GPIO pin of this device");
    expect(add("U", PERIPH_UART, 0, [5, 5])).toBe(-EINVAL);
    expect(lastError()).toBe("board_add: U: pin 5 is muxed by this interface twice");
    expect(boardCount()).toBe(0);
    expect(add("U", PERIPH_UART, 0, [5])).toBe(0);
    expect(add("U", PERIPH_I2C, 0)).toBe(-EEXIST);
    expect(add("V", PERIPH_UART, 0, [6, 5])).toBe(-EINVAL);
    expect(lastError()).toBe("board_add: V: pin 5 is muxed by U");
    // The refused V left no pin behind.
    expect(boardPinInterface(6)).toBe(-1);
    expect(boardCount()).toBe(1);
  });
  it("holds BOARD_MAX_INTERFACES interfaces, then -ENOSPC", () => {
    boot();
    for (let i = 0; i < BOARD_MAX_INTERFACES; i++) expect(add("I" + i.toString(), PERIPH_UART, 0)).toBe(i);
    expect(add("ONE-MORE", PERIPH_UART, 0)).toBe(-ENOSPC);
  });
  it("board-add is refused once an app is installed, and a reboot forgets the board", () => {
    boot();
    expect(exported("ISU0", PERIPH_UART, 0)).toBe(0);
    expect(install(manifest("a", "000000000001"))).toBe(0);
    expect(exported("ISU1", PERIPH_UART, 0)).toBe(-EBUSY);
    boot();
    expect(boardCount()).toBe(0);
  });
});
