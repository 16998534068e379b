// The manifest parser: what it accepts, and for every rule the exact sentence it refuses with.
import { EINVAL, EPERM, NET_TCP, NET_UDP, ENODEV, EEXIST, EBUSY, APP_STRING_NAME, APP_STRING_COMPONENT_ID, APP_STRING_ENTRY_POINT, APP_STRING_CMD_ARGS, APP_FIELD_QUOTA_BYTES, APP_FIELD_PRIORITY, DEFAULT_PRIORITY, EV_INSTALL_REFUSED, EV_APP_INSTALLED, AUDIT_KIND, AUDIT_RESULT, AUDIT_APP, APP_FIELD_CPU_BUDGET_KFUEL } from "../../assembly/abi";
import { app_string, app_field, audit_total, audit_field } from "../../assembly/exports";
import { capsOf, capsListsPeer, capsServesPort, CAP_STORAGE, CAP_UART, CAP_I2C, CAP_ADC, CAP_NETWORK, CAP_SYSTEM_TIME, CAP_POWER_CONTROLS } from "../../assembly/lsm/caps";
import { appAllowPtr } from "../../assembly/appmgr/apps";
import { boardAdd } from "../../assembly/board/board";
import { PERIPH_UART, PERIPH_I2C, PERIPH_SPI, PERIPH_ADC } from "../../assembly/abi";

/** Adds a board interface with no pins (after boot). Its id. */
function addInterface(name: string, functions: i32, channels: i32): i32 {
  const b = String.UTF8.encode(name);
  return boardAdd(changetype<usize>(b), b.byteLength, functions, channels, 0, 0, 96);
}
import { boot, install, lastError, manifest } from "./kernel-support";

const VALID = "e894d6d15fa9";

/** app_string's result<list<u8>, s32>, as text ("" for an error). */
function appString(slot: i32, which: i32): string {
  const ret = app_string(slot, which);
  if (load<u8>(ret) != 0) return "";
  return String.UTF8.decodeUnsafe(<usize>load<u32>(ret, 4), <usize>load<u32>(ret, 8));
}
/** The list length app_string returns (-1 for an error). */
function appStringBytes(slot: i32, which: i32): i32 {
  const ret = app_string(slot, which);
  return load<u8>(ret) != 0 ? -1 : load<i32>(ret, 8);
}

function refuses(json: string, code: i32, message: string): void {
  boot();
  expect(install(json)).toBe(-code);
  expect(lastError()).toBe(message);
}

/** refuses, on the device as it is (its board kept). */
function refusesHere(json: string, code: i32, message: string): void {
  expect(install(json)).toBe(-code);
  expect(lastError()).toBe(message);
}

function withField(field: string): string {
  return manifest("m", VALID, ", " + field);
}

describe("manifest: accepted", () => {
  it("stores every field, and defaults what is left out", () => {
    boot();
    const slot = install("\uFEFF{\n  \"SchemaVersion\": 1,\n  \"Name\": \"blink\",\n  \"ComponentId\": \"1689D8B2-c835-2e27-27ad-e894d6d15fa9\",\n  \"EntryPoint\": \"bin/blink.wasm\",\n  \"CmdArgs\": [\"--led\", \"8\", \"caf\\u00e9 \\ud83d\\ude00\"],\n  \"ApplicationType\": \"Default\",\n  \"Capabilities\": { \"Gpio\": [8, 0, 95] },\n  \"MemoryQuotaKiB\": 128,\n  \"Priority\": 0\n}\n");
    expect(slot).toBe(0);
    expect(appString(slot, APP_STRING_NAME)).toBe("blink");
    expect(appString(slot, APP_STRING_COMPONENT_ID)).toBe("1689d8b2-c835-2e27-27ad-e894d6d15fa9");
    expect(appString(slot, APP_STRING_ENTRY_POINT)).toBe("bin/blink.wasm");
    expect(appString(slot, APP_STRING_CMD_ARGS)).toBe("--led\0" + "8\0" + "café 😀\0");
    expect(app_field(slot, APP_FIELD_QUOTA_BYTES)).toBe(128 * 1024);
    expect(app_field(slot, APP_FIELD_PRIORITY)).toBe(0);
    expect(audit_field(audit_total() - 1, AUDIT_KIND)).toBe(EV_APP_INSTALLED);
    expect(audit_field(audit_total() - 1, AUDIT_APP)).toBe(slot);
  });
  it("defaults quota, priority, arguments and capabilities", () => {
    boot();
    const slot = install(manifest("plain", VALID));
    expect(slot).toBe(0);
    expect(app_field(slot, APP_FIELD_QUOTA_BYTES)).toBe(256 * 1024);
    expect(app_field(slot, APP_FIELD_PRIORITY)).toBe(DEFAULT_PRIORITY);
    expect(appStringBytes(slot, APP_STRING_CMD_ARGS)).toBe(0);
  });
  it("accepts a Name of exactly 64 bytes and an empty Capabilities object", () => {
    boot();
    expect(install(manifest("a123456789b123456789c123456789d123456789e123456789f123456789wxyz", VALID, ", \"Capabilities\": {}, \"CmdArgs\": []"))).toBe(0);
  });
});

describe("manifest: JSON", () => {
  it("refuses an empty file", () => { refuses("", EINVAL, "manifest: invalid JSON at byte 0 (the end of the file): expected '{' (the manifest is empty)"); });
  it("refuses a document that is not an object", () => { refuses("[1]", EINVAL, "manifest: expected a JSON object ({ ... })"); });
  it("refuses a trailing comma", () => { refuses("{\"SchemaVersion\": 1,}", EINVAL, "manifest: invalid JSON at byte 20: expected a field name in double quotes"); });
  it("refuses a missing colon", () => { refuses("{\"SchemaVersion\" 1}", EINVAL, "manifest: invalid JSON at byte 17: expected ':' after the field name"); });
  it("refuses an unterminated string", () => { refuses("{\"Name\": \"abc", EINVAL, "Name: invalid JSON at byte 13 (the end of the file): expected '\"' to close the string"); });
  it("refuses a bad escape", () => { refuses("{\"Name\": \"a\\qb\"}", EINVAL, "Name: invalid JSON at byte 11: expected a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"); });
  it("refuses a lone low surrogate", () => { refuses("{\"Name\": \"\\udc00\"}", EINVAL, "Name: invalid JSON at byte 10: expected a \\u escape that is not half of a surrogate pair"); });
  it("refuses a raw control character in a string", () => { refuses("{\"Name\": \"a\nb\"}", EINVAL, "Name: invalid JSON at byte 11: expected no control characters inside a string (escape them)"); });
  it("refuses bytes after the object", () => { refuses(manifest("m", VALID) + " x", EINVAL, "manifest: invalid JSON at byte 113: expected nothing after the manifest's closing '}'"); });
  it("refuses a missing comma between fields", () => { refuses("{\"SchemaVersion\": 1 \"Name\": \"x\"}", EINVAL, "manifest: invalid JSON at byte 20: expected ',' or '}'"); });
  it("refuses a bare word where a value goes", () => { refuses("{\"SchemaVersion\": one}", EINVAL, "SchemaVersion: invalid JSON at byte 18: expected a value"); });
});

describe("manifest: fields", () => {
  it("refuses an unknown field, naming it", () => { refuses(withField("\"Color\": 1"), EINVAL, "Color: unknown field"); });
  it("refuses a duplicate field", () => { refuses(withField("\"Name\": \"again\""), EINVAL, "Name: duplicate field"); });
  it("requires SchemaVersion", () => { refuses("{\"Name\": \"x\"}", EINVAL, "SchemaVersion: required field is missing"); });
  it("requires Name", () => { refuses("{\"SchemaVersion\": 1}", EINVAL, "Name: required field is missing"); });
  it("requires ComponentId", () => { refuses("{\"SchemaVersion\": 1, \"Name\": \"x\"}", EINVAL, "ComponentId: required field is missing"); });
  it("requires EntryPoint", () => { refuses("{\"SchemaVersion\": 1, \"Name\": \"x\", \"ComponentId\": \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\"}", EINVAL, "EntryPoint: required field is missing"); });
  it("SchemaVersion must be 1", () => { refuses("{\"SchemaVersion\": 2}", EINVAL, "SchemaVersion: must be 1, not 2"); });
  it("SchemaVersion must be an integer", () => { refuses("{\"SchemaVersion\": \"1\"}", EINVAL, "SchemaVersion: expected an integer"); });
  it("SchemaVersion may not be a fraction", () => { refuses("{\"SchemaVersion\": 1.0}", EINVAL, "SchemaVersion: expected an integer"); });
  it("Name must be a string", () => { refuses("{\"Name\": 5}", EINVAL, "Name: expected a string"); });
  it("Name must not be empty", () => { refuses("{\"Name\": \"\"}", EINVAL, "Name: must be 1 to 64 bytes, not 0"); });
  it("Name must fit 64 bytes", () => { refuses("{\"Name\": \"a123456789b123456789c123456789d123456789e123456789f123456789vwxyz\"}", EINVAL, "Name: must be 1 to 64 bytes, not 65"); });
  it("Name must not hold NUL", () => { refuses("{\"Name\": \"a\\u0000\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)"); });
  it("Name must not hold a control character, escaped or raw", () => {
    // A newline would forge a line of output; ESC and CSI (U+009B) drive the terminal; DEL and U+009F bound the ranges.
    refuses("{\"Name\": \"a\\nb\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\\u001b[2J\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\\u001F\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\\t\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\x7f\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\\u007f\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\u009b2J\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\\u0080\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"Name\": \"a\\u009f\"}", EINVAL, "Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
  });
  it("Name may hold printable characters next to the control ranges", () => {
    boot();
    expect(install(manifest("caf\u00e9 ~ \u00a0\u00a1", VALID))).toBe(0);
    expect(appString(0, APP_STRING_NAME)).toBe("caf\u00e9 ~ \u00a0\u00a1");
  });
  it("EntryPoint must not hold a control character", () => {
    refuses("{\"EntryPoint\": \"a\\nb.wasm\"}", EINVAL, "EntryPoint: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"EntryPoint\": \"a\\u001b.wasm\"}", EINVAL, "EntryPoint: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
    refuses("{\"EntryPoint\": \"a\\u0085.wasm\"}", EINVAL, "EntryPoint: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
  });
  it("ComponentId must be a GUID", () => { refuses(manifest("m", "e894d6d15fa"), EINVAL, "ComponentId: expected a GUID like \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\""); });
  it("ComponentId must be hex", () => { refuses(manifest("m", "e894d6d15fag"), EINVAL, "ComponentId: expected a GUID like \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\""); });
  it("ComponentId must be unique among installed apps", () => {
    boot();
    expect(install(manifest("first", VALID))).toBe(0);
    expect(install(manifest("second", VALID))).toBe(-EEXIST);
    expect(lastError()).toBe("ComponentId: already installed, as \"first\"");
  });
  it("EntryPoint must not be empty", () => { refuses("{\"EntryPoint\": \"\"}", EINVAL, "EntryPoint: must not be empty"); });
  it("EntryPoint must end in .wasm", () => { refuses("{\"EntryPoint\": \"app.js\"}", EINVAL, "EntryPoint: must name a module ending in \".wasm\""); });
  it("EntryPoint must stay inside the package", () => {
    refuses("{\"EntryPoint\": \"../other/app.wasm\"}", EINVAL, "EntryPoint: must be a relative path inside the app's package (no leading '/', no '..', no empty steps)");
    refuses("{\"EntryPoint\": \"/abs/app.wasm\"}", EINVAL, "EntryPoint: must be a relative path inside the app's package (no leading '/', no '..', no empty steps)");
  });
  it("EntryPoint must fit 128 bytes", () => {
    let long = "";
    for (let i = 0; i < 13; i++) long += "abcdefghij";
    refuses("{\"EntryPoint\": \"" + long + ".wasm\"}", EINVAL, "EntryPoint: must be at most 128 bytes, not 135");
  });
  it("CmdArgs must be an array of strings", () => {
    refuses(withField("\"CmdArgs\": \"-v\""), EINVAL, "CmdArgs: expected an array of strings");
    refuses(withField("\"CmdArgs\": [\"-v\", 3]"), EINVAL, "CmdArgs[1]: expected a string");
  });
  it("CmdArgs must fit 512 bytes in all", () => {
    let arg = "";
    for (let i = 0; i < 10; i++) arg += "abcdefghij";
    // Five arguments of 100 bytes take 505 bytes with their NULs; a sixth does not fit.
    refuses(withField("\"CmdArgs\": [\"" + arg + "\", \"" + arg + "\", \"" + arg + "\", \"" + arg + "\", \"" + arg + "\", \"abcdefg\"]"), EINVAL, "CmdArgs: must be at most 512 bytes in all, counting a NUL after each argument");
  });
  it("ApplicationType may only be Default", () => { refuses(withField("\"ApplicationType\": \"RealTimeCapable\""), EINVAL, "ApplicationType: only \"Default\" is supported, not \"RealTimeCapable\""); });
  it("MemoryQuotaKiB must be a multiple of 64 within the ceiling", () => {
    refuses(withField("\"MemoryQuotaKiB\": 100"), EINVAL, "MemoryQuotaKiB: must be a multiple of 64 from 64 to 1024 (this device's ceiling), not 100");
    refuses(withField("\"MemoryQuotaKiB\": 0"), EINVAL, "MemoryQuotaKiB: must be a multiple of 64 from 64 to 1024 (this device's ceiling), not 0");
    refuses(withField("\"MemoryQuotaKiB\": 2048"), EINVAL, "MemoryQuotaKiB: must be a multiple of 64 from 64 to 1024 (this device's ceiling), not 2048");
    refuses(withField("\"MemoryQuotaKiB\": 99999999999999999999"), EINVAL, "MemoryQuotaKiB: must be a multiple of 64 from 64 to 1024 (this device's ceiling), not 99999999999999999999");
  });
  it("Priority must be 0 to 7", () => {
    refuses(withField("\"Priority\": 8"), EINVAL, "Priority: must be 0 (runs first) to 7, not 8");
    refuses(withField("\"Priority\": -1"), EINVAL, "Priority: must be 0 (runs first) to 7, not -1");
    refuses(withField("\"Priority\": true"), EINVAL, "Priority: expected an integer");
  });
  it("CpuBudget holds FuelPerSecond, an integer from one slice a second to 10^12", () => {
    boot();
    const slot = install(manifest("budgeted", VALID, ", \"CpuBudget\": {\"FuelPerSecond\": 1000000000}"));
    expect(slot).toBe(0);
    expect(app_field(slot, APP_FIELD_CPU_BUDGET_KFUEL)).toBe(1000000);
    const plain = install(manifest("plain", "e894d6d15fa8"));
    expect(app_field(plain, APP_FIELD_CPU_BUDGET_KFUEL)).toBe(0);
    expect(install(manifest("edges", "e894d6d15fa7", ", \"CpuBudget\": {\"FuelPerSecond\": 2000000}"))).toBe(2);
    expect(install(manifest("top", "e894d6d15fa6", ", \"CpuBudget\": { \"FuelPerSecond\" : 1000000000000 }"))).toBe(3);
    expect(app_field(3, APP_FIELD_CPU_BUDGET_KFUEL)).toBe(1000000000);
    const range = "CpuBudget.FuelPerSecond: must be 2000000 (one slice a second) to 1000000000000, not ";
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 1999999}"), EINVAL, range + "1999999");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 0}"), EINVAL, range + "0");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": -5000000}"), EINVAL, range + "-5000000");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 1000000000001}"), EINVAL, range + "1000000000001");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 99999999999999999999999}"), EINVAL, range + "99999999999999999999999");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 2.5e9}"), EINVAL, "CpuBudget.FuelPerSecond: expected an integer (fuel a second of device time)");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": \"10%\"}"), EINVAL, "CpuBudget.FuelPerSecond: expected an integer (fuel a second of device time)");
    refuses(withField("\"CpuBudget\": 10"), EINVAL, "CpuBudget: expected an object like {\"FuelPerSecond\": 1000000000}");
    refuses(withField("\"CpuBudget\": {}"), EINVAL, "CpuBudget: FuelPerSecond is missing (an object like {\"FuelPerSecond\": 1000000000})");
    refuses(withField("\"CpuBudget\": {\"Percent\": 10}"), EINVAL, "CpuBudget.Percent: unknown field");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 3000000, \"FuelPerSecond\": 4000000}"), EINVAL, "CpuBudget.FuelPerSecond: duplicate field");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 3000000}, \"CpuBudget\": {\"FuelPerSecond\": 3000000}"), EINVAL, "CpuBudget: duplicate field");
    refuses(withField("\"CpuBudget\": {\"FuelPerSecond\": 3000000"), EINVAL, "manifest: invalid JSON at byte 152 (the end of the file): expected ',' or '}'");
  });
});

describe("manifest: capabilities", () => {
  it("Capabilities must be an object", () => { refuses(withField("\"Capabilities\": []"), EINVAL, "Capabilities: expected an object"); });
  it("refuses an unknown capability", () => { refuses(withField("\"Capabilities\": {\"Camera\": true}"), EINVAL, "Capabilities.Camera: unknown capability"); });
  it("refuses Azure Sphere's capabilities it does not give yet as not supported, whatever their value", () => {
    refuses(withField("\"Capabilities\": {\"CertStore\": true}"), EINVAL, "Capabilities.CertStore: not supported by this device yet");
    refuses(withField("\"Capabilities\": {\"systemtime\": true}"), EINVAL, "Capabilities.systemtime: unknown capability");
  });
  it("SystemTime and PowerControls take a boolean: true grants the class, false nothing, any other value is refused", () => {
    refuses(withField("\"Capabilities\": {\"PowerControls\": [\"ForceReboot\"]}"), EINVAL, "Capabilities.PowerControls: expected true or false");
    refuses(withField("\"Capabilities\": {\"SystemTime\": 1}"), EINVAL, "Capabilities.SystemTime: expected true or false");
    refuses(withField("\"Capabilities\": {\"SystemTime\": trueish}"), EINVAL, "Capabilities: invalid JSON at byte 148: expected ',' or '}'");
    refuses(withField("\"Capabilities\": {\"SystemTime\": true, \"SystemTime\": false}"), EINVAL, "Capabilities.SystemTime: duplicate field");
    boot();
    const both = install(withField("\"Capabilities\": {\"SystemTime\": true, \"PowerControls\": true}"));
    expect(both).toBe(0);
    expect(capsOf(both).classMask & (CAP_SYSTEM_TIME | CAP_POWER_CONTROLS)).toBe(CAP_SYSTEM_TIME | CAP_POWER_CONTROLS);
    boot();
    const neither = install(withField("\"Capabilities\": {\"SystemTime\": false, \"PowerControls\": false}"));
    expect(neither).toBe(0);
    expect(capsOf(neither).classMask & (CAP_SYSTEM_TIME | CAP_POWER_CONTROLS)).toBe(0);
  });
  it("Gpio must be an array of integers", () => {
    refuses(withField("\"Capabilities\": {\"Gpio\": 8}"), EINVAL, "Capabilities.Gpio: expected an array of pin numbers");
    refuses(withField("\"Capabilities\": {\"Gpio\": [8, \"$LED\"]}"), EINVAL, "Capabilities.Gpio[1]: expected a pin number (an integer)");
  });
  it("Gpio pins must exist on the device", () => { refuses(withField("\"Capabilities\": {\"Gpio\": [1, 2, 200]}"), ENODEV, "Capabilities.Gpio[2]: pin 200 does not exist on this device (pins 0..95)"); });
  it("Gpio pins are not negative", () => { refuses(withField("\"Capabilities\": {\"Gpio\": [-3]}"), EINVAL, "Capabilities.Gpio[0]: pin -3 is not a pin number (pins count from 0)"); });
  it("Gpio lists a pin once", () => { refuses(withField("\"Capabilities\": {\"Gpio\": [4, 5, 4]}"), EINVAL, "Capabilities.Gpio[2]: pin 4 is listed twice"); });
  it("a duplicate capability is refused", () => { refuses(withField("\"Capabilities\": {\"Gpio\": [1], \"Gpio\": [2]}"), EINVAL, "Capabilities.Gpio: duplicate field"); });
  it("keeps AllowedConnections in canonical form after the app's strings; refuses what is not a name or address, and a host listed twice in any spelling", () => {
    boot();
    const slot = install(withField("\"Capabilities\": {\"AllowedConnections\": [\"Example.COM.\", \"*.sensors.example\", \"10.0.0.1\", \"::ffff:10.0.0.2\"]}"));
    expect(slot).toBe(0);
    expect(capsOf(slot).connectionCount).toBe(4);
    expect((capsOf(slot).classMask & CAP_NETWORK) != 0).toBe(true);
    // 'n' example.com (12 bytes), 'w' sensors.example (16), '4' 10.0.0.1 (5), '4' 10.0.0.2 (5), each after a length byte.
    expect(capsOf(slot).allowBytes).toBe(13 + 17 + 6 + 6);
    const p = appAllowPtr(slot);
    expect(load<u8>(p)).toBe(12);
    expect(String.UTF8.decodeUnsafe(p + 1, 12)).toBe("nexample.com");
    expect(String.UTF8.decodeUnsafe(p + 14, 16)).toBe("wsensors.example");
    expect(load<u8>(p + 30)).toBe(5);
    expect(load<u8>(p + 31)).toBe(0x34);
    expect(load<u32>(p + 32)).toBe(0x0100000a);
    expect(load<u32>(p + 38)).toBe(0x0200000a);
    refuses(withField("\"Capabilities\": {\"AllowedConnections\": [\"127.1\"]}"), EINVAL, "Capabilities.AllowedConnections[0]: \"127.1\" is not a host name (letters, digits, '-', labels of 1 to 63), a *.name wildcard or an IP address");
    refuses(withField("\"Capabilities\": {\"AllowedConnections\": [\"a\", \"http://x\"]}"), EINVAL, "Capabilities.AllowedConnections[1]: \"http://x\" is not a host name (letters, digits, '-', labels of 1 to 63), a *.name wildcard or an IP address");
    refuses(withField("\"Capabilities\": {\"AllowedConnections\": [\"10.0.0.1\", \"::FFFF:a00:1\"]}"), EINVAL, "Capabilities.AllowedConnections[1]: \"::FFFF:a00:1\" is listed twice (as written or in another spelling)");
    refuses(withField("\"Capabilities\": {\"AllowedConnections\": \"a.com\"}"), EINVAL, "Capabilities.AllowedConnections: expected an array of host names and IP addresses");
  });
  it("AllowedTcpServerPorts and AllowedUdpServerPorts: up to 4 ports each, 1..65535, once; NetworkManager only for a system app", () => {
    boot();
    const slot = install(withField("\"Capabilities\": {\"AllowedTcpServerPorts\": [80, 8080], \"AllowedUdpServerPorts\": [80]}"));
    expect(slot).toBe(0);
    expect(capsServesPort(capsOf(slot), NET_TCP, 8080)).toBe(true);
    expect(capsServesPort(capsOf(slot), NET_UDP, 80)).toBe(true);
    expect(capsServesPort(capsOf(slot), NET_UDP, 8080)).toBe(false);
    refuses(withField("\"Capabilities\": {\"AllowedTcpServerPorts\": [0]}"), EINVAL, "Capabilities.AllowedTcpServerPorts[0]: must be a port number 1 to 65535, not 0");
    refuses(withField("\"Capabilities\": {\"AllowedUdpServerPorts\": [5, 5]}"), EINVAL, "Capabilities.AllowedUdpServerPorts[1]: port 5 is listed twice");
    refuses(withField("\"Capabilities\": {\"AllowedTcpServerPorts\": [1, 2, 3, 4, 5]}"), EINVAL, "Capabilities.AllowedTcpServerPorts[4]: at most 4 ports may be listed");
    refuses(withField("\"Capabilities\": {\"NetworkManager\": true}"), EPERM, "Capabilities.NetworkManager: only the network manager, a system app in the OS image, may hold this");
    refuses(withField("\"Capabilities\": {\"NetworkManager\": 1}"), EINVAL, "Capabilities.NetworkManager: expected true");
  });
  it("grants app connections as ComponentIds", () => {
    boot();
    const slot = install(manifest("talker", VALID, ", \"Capabilities\": {\"AllowedApplicationConnections\": [\"3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13\"]}"));
    expect(slot).toBe(0);
    expect(capsOf(slot).appConnectionCount).toBe(1);
    expect(capsListsPeer(capsOf(slot), 0x3b1f5e2a7c444d8e, 0x9a610f2d8c7b5e13)).toBe(true);
    expect(capsListsPeer(capsOf(slot), 0x3b1f5e2a7c444d8e, 0x9a610f2d8c7b5e14)).toBe(false);
  });
  it("grants the board's interfaces by name, each for the function it is named under; names the board lacks are ENODEV", () => {
    boot();
    expect(addInterface("ISU0", PERIPH_UART | PERIPH_I2C | PERIPH_SPI, 0)).toBe(0);
    expect(addInterface("ADC-CONTROLLER-0", PERIPH_ADC, 8)).toBe(1);
    const slot = install(manifest("periph", VALID, ", \"Capabilities\": {\"I2cMaster\": [\"ISU0\"], \"Adc\": [\"ADC-CONTROLLER-0\"]}"));
    expect(slot).toBe(0);
    expect(capsOf(slot).i2cMask).toBe(1);
    expect(capsOf(slot).adcMask).toBe(2);
    expect(capsOf(slot).uartMask).toBe(0);
    expect((capsOf(slot).classMask & (CAP_I2C | CAP_ADC)) == (CAP_I2C | CAP_ADC)).toBe(true);
    expect((capsOf(slot).classMask & CAP_UART) == 0).toBe(true);
    refusesHere(withField("\"Capabilities\": {\"Uart\": [\"ISU1\"]}"), ENODEV, "Capabilities.Uart[0]: \"ISU1\" is not a Uart interface of this device (it has ISU0)");
    refusesHere(withField("\"Capabilities\": {\"Pwm\": [\"ISU0\"]}"), ENODEV, "Capabilities.Pwm[0]: \"ISU0\" is not a Pwm interface of this device (it has none)");
    refusesHere(withField("\"Capabilities\": {\"Uart\": [\"$ISU0\"]}"), ENODEV, "Capabilities.Uart[0]: \"$ISU0\" is a hardware definition's name: pack with --hardware-definitions to resolve it");
    refusesHere(withField("\"Capabilities\": {\"Uart\": [\"isu0\"]}"), ENODEV, "Capabilities.Uart[0]: \"isu0\" is not a Uart interface of this device (it has ISU0)");
    refusesHere(withField("\"Capabilities\": {\"Uart\": [\"ISU0\", \"ISU0\"]}"), EINVAL, "Capabilities.Uart[1]: \"ISU0\" is listed twice");
  });
  it("MutableStorage grants a quota of SizeKB KiB, 1 to 65536, SizeKB required", () => {
    boot();
    const slot = install(manifest("store", VALID, ", \"Capabilities\": {\"MutableStorage\": {\"SizeKB\": 8}}"));
    expect(slot).toBe(0);
    expect(capsOf(slot).storageQuotaBytes).toBe(8192);
    expect((capsOf(slot).classMask & CAP_STORAGE) != 0).toBe(true);
    refuses(withField("\"Capabilities\": {\"MutableStorage\": {}}"), EINVAL, "Capabilities.MutableStorage: SizeKB is missing (an object like {\"SizeKB\": 64})");
    refuses(withField("\"Capabilities\": {\"MutableStorage\": {\"SizeKB\": 65537}}"), EINVAL, "Capabilities.MutableStorage.SizeKB: must be 1 to 65536, not 65537");
  });
  it("checks the shape of the capabilities it does not support yet", () => {
    refuses(withField("\"Capabilities\": {\"Uart\": \"$ISU0\"}"), EINVAL, "Capabilities.Uart: expected an array of interface names (like \"ISU0\")");
    refuses(withField("\"Capabilities\": {\"AllowedApplicationConnections\": [\"nope\"]}"), EINVAL, "Capabilities.AllowedApplicationConnections[0]: expected a GUID like \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\"");
    refuses(withField("\"Capabilities\": {\"MutableStorage\": {\"SizeMB\": 8}}"), EINVAL, "Capabilities.MutableStorage.SizeMB: unknown field");
  });
  it("a pin owned by another installed app is refused with EBUSY naming the app", () => {
    boot();
    expect(install(manifest("first", VALID, ", \"Capabilities\": {\"Gpio\": [7, 8]}"))).toBe(0);
    expect(install(manifest("second", "000000000002", ", \"Capabilities\": {\"Gpio\": [9, 8]}"))).toBe(-EBUSY);
    expect(lastError()).toBe("Capabilities.Gpio: pin 8 is owned by \"first\", which is installed");
  });
  it("every refusal is in the audit ring with its errno", () => {
    boot();
    expect(install("{")).toBe(-EINVAL);
    expect(audit_field(audit_total() - 1, AUDIT_KIND)).toBe(EV_INSTALL_REFUSED);
    expect(audit_field(audit_total() - 1, AUDIT_RESULT)).toBe(-EINVAL);
  });
});
