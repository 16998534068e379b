// The manifest parser at its edges: the UTF-8 its \u escapes produce at every length boundary
// (RFC 3629: 1 byte below U+0080, 2 below U+0800, 3 below U+10000, 4 from a surrogate pair), an
// empty field name at the top level and inside an object, and a minus sign with no digit.
import { EINVAL, APP_STRING_CMD_ARGS } from "../../assembly/abi";
import { app_string } from "../../assembly/exports";
import { boot, install, lastError, manifest } from "./kernel-support";

const VALID = "e894d6d15fa9";

/** app_string's bytes as lowercase hex ("" for an error). */
function appStringHex(slot: i32, which: i32): string {
  const ret = app_string(slot, which);
  if (load<u8>(ret) != 0) return "";
  const ptr = <usize>load<u32>(ret, 4);
  const len = load<i32>(ret, 8);
  let out = "";
  for (let i = 0; i < len; i++) {
    const b = load<u8>(ptr + <usize>i);
    out += (b < 16 ? "0" : "") + b.toString(16);
  }
  return out;
}

describe("manifest: \\u escapes become UTF-8 of the right length at each boundary", () => {
  it("U+007F, U+0080, U+07FF, U+0800, U+FFFF and U+10000 (a surrogate pair)", () => {
    boot();
    const slot = install(manifest("m", VALID, ", \"CmdArgs\": [\"\\u007f\", \"\\u0080\", \"\\u07ff\", \"\\u0800\", \"\\uffff\", \"\\ud800\\udc00\", \"\\udbff\\udfff\"]"));
    expect(slot).toBe(0);
    expect(appStringHex(slot, APP_STRING_CMD_ARGS)).toBe("7f00" + "c28000" + "dfbf00" + "e0a08000" + "efbfbf00" + "f090808000" + "f48fbfbf00");
  });
});

describe("manifest: refusals at the edges", () => {
  it("an empty field name at the top level is an unknown field", () => {
    boot();
    expect(install(manifest("m", VALID, ", \"\": 1"))).toBe(-EINVAL);
    expect(lastError()).toBe("manifest: unknown field");
  });
  it("an empty field name inside a one-field object is an unknown field, not the field left out", () => {
    boot();
    expect(install(manifest("m", VALID, ", \"CpuBudget\": {\"\": 5}"))).toBe(-EINVAL);
    expect(lastError()).toBe("CpuBudget.: unknown field");
  });
  it("a minus sign with no digit after it", () => {
    boot();
    const json = manifest("m", VALID, ", \"MemoryQuotaKiB\": -x");
    expect(install(json)).toBe(-EINVAL);
    // The byte named is the one where a digit was due: the 'x' (offsets count from 0).
    expect(lastError()).toBe("MemoryQuotaKiB: invalid JSON at byte " + (json.indexOf("-x") + 1).toString() + ": expected a digit");
  });
});
