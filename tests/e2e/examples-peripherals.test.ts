// The peripheral examples, built from their directories and run against the host's models:
// thermometer (an SHT3x on ISU1; its average kept in its mutable file across a reboot),
// uart-echo (lines sent on ISU0's other end come back, also over a loopback TCP bridge), and
// dimmer (an ADC knob drives a PWM duty cycle). Each manifest holds exactly what its app uses.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, cpSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Device } from "../../host/device.js";
import { RealClock } from "../../host/peripherals/clock.js";
import { Network } from "../../host/net/network.js";
import { startNetworkManager, systemAppsFromTree } from "../../host/net/system-apps.js";
import { join } from "node:path";
import { connect } from "node:net";
import { Board, defaultBoardSpecs } from "../../host/peripherals/board.js";
import { Sht3x, SHT3X_ADDRESS } from "../../host/peripherals/sht3x.js";
import { UartTcpBridge } from "../../host/peripherals/uart-tcp.js";
import { FlashDevice } from "../../host/device-flash.js";
import { trustedBoot, signed } from "../host/trust-support.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { appFromDirectory } from "../../host/apps/package.js";
import { device, example } from "./support.js";
import { cache, freshFlash } from "../host/device-flash-support.js";

const capsOf = (name: string) => JSON.parse(readFileSync(join(example(name), "app_manifest.json"), "utf8")).Capabilities;

test("examples/thermometer logs each SHT3x reading once a second and keeps their average in its mutable file across a reboot", async () => {
  assert.deepEqual(capsOf("thermometer"), { I2cMaster: ["ISU1"], AllowedConnections: ["127.0.0.1"], MutableStorage: { SizeKB: 8 } });
  const { packDirectory } = await import("../../host/imagepkg-cli.js");
  const { bytes } = await packDirectory(example("thermometer"));
  let celsius = 21.5;
  const boardAt = () => {
    const board = new Board(defaultBoardSpecs(96));
    board.i2c("ISU1").attach(SHT3X_ADDRESS, new Sht3x({ temperatureC: () => celsius, humidityPercent: 52 }));
    return board;
  };
  const flash = await freshFlash();
  let dev = await trustedBoot(flash, { startApps: true, instrumentCache: cache, gpioPinCount: 96, clock: new VirtualClock(), board: boardAt() });
  await dev.deploy(await signed(bytes));
  const logs = async (d: FlashDevice, untilMs: number) => { await d.device.run({ untilMs }); return d.device.events.of("log").filter((e) => e.app === "thermometer").map((e) => e.text); };
  // -45 + 175 * round((21.5 + 45) / 175 * 65535) / 65535 = 21.49..., in hundredths 21.49; RH 52.00 (51.99 after rounding the word).
  // This device has no network: the first post says so, once.
  assert.deepEqual(await logs(dev, 2_500), [
    "21.49 C, 51.99 %RH (average of 1: 21.49 C)",
    "post to http://127.0.0.1:8080/readings: error -100 (networking not ready)",
    "21.49 C, 51.99 %RH (average of 2: 21.49 C)",
    "21.49 C, 51.99 %RH (average of 3: 21.49 C)",
  ]);
  celsius = 31.5;
  dev = await trustedBoot(flash.clone(), { startApps: true, instrumentCache: cache, gpioPinCount: 96, clock: new VirtualClock(), board: boardAt() });
  // (3 x 21.49 + 31.49) / 4 = 23.99
  assert.deepEqual((await logs(dev, 500))[0], "31.49 C, 51.99 %RH (average of 4: 23.99 C)");
});

test("examples/thermometer posts each reading as JSON to the HTTP endpoint its CmdArgs name, through its allowlist", async () => {
  const bodies: string[] = [];
  const server = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => { bodies.push(`${req.method} ${req.url} ${req.headers["content-type"]} ${body}`); res.end("ok"); });
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as AddressInfo).port;
  // The example as shipped, its URL pointed at this server.
  const dir = mkdtempSync(join(tmpdir(), "thermometer-"));
  cpSync(example("thermometer"), dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(dir, "app_manifest.json"), "utf8"));
  m.CmdArgs = [`http://127.0.0.1:${port}/readings`];
  writeFileSync(join(dir, "app_manifest.json"), JSON.stringify(m));
  const board = new Board(defaultBoardSpecs(96));
  board.i2c("ISU1").attach(SHT3X_ADDRESS, new Sht3x({ temperatureC: () => 21.5, humidityPercent: 52 }));
  const network = new Network();
  const dev = new Device({ clock: new RealClock(), board, network });
  await startNetworkManager(dev, systemAppsFromTree());
  dev.start(await dev.install(appFromDirectory(dir)));
  const stop = new AbortController();
  const running = dev.run({ signal: stop.signal });
  try {
    const deadline = Date.now() + 15000;
    const ok = () => dev.events.of("log").some((e) => e.app === "thermometer" && e.text.endsWith("/readings: 200"));
    while ((bodies.length < 2 || !ok()) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  } finally {
    stop.abort();
    await running;
    network.closeAll();
    server.close();
  }
  const reading = 'POST /readings application/json {"celsius":21.49,"humidity":51.99,"average":21.49}';
  assert.deepEqual(bodies.slice(0, 2), [reading, reading]);
  const lines = dev.events.of("log").filter((e) => e.app === "thermometer").map((e) => e.text);
  // The first reading may come before the network manager published: then its post says so.
  const posted = lines.filter((l) => l.startsWith("post to"));
  assert.equal(posted[posted.length - 1], `post to http://127.0.0.1:${port}/readings: 200`);
});

test("examples/uart-echo echoes lines from the UART's other end, and over a loopback TCP port", async () => {
  assert.deepEqual(capsOf("uart-echo"), { Uart: ["ISU0"] });
  const board = new Board(defaultBoardSpecs(96));
  const port = board.uart("ISU0");
  const heard: string[] = [];
  port.onTransmit((b) => heard.push(new TextDecoder().decode(b)));
  const dev = device({ board });
  dev.start(await dev.install(appFromDirectory(example("uart-echo"))));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(port.config, { baudRate: 115200, dataBits: 8, parity: "none", stopBits: 1, flowControl: "none" });
  port.send(new TextEncoder().encode("hello\r\nsecond li"));
  await dev.run({ untilMs: 200 });
  port.send(new TextEncoder().encode("ne\n"));
  await dev.run({ untilMs: 300 });
  assert.deepEqual(heard.join(""), "echo: hello\necho: second line\n");
  assert.deepEqual(dev.events.of("log").filter((e) => e.app === "uart-echo").map((e) => e.text), ["echoing lines on ISU0", "echoed 5 bytes", "echoed 11 bytes"]);

  // The same app on a real clock, its UART on a TCP port, reached by a client as `nc` would.
  const live = new Board(defaultBoardSpecs(96));
  const bridge = new UartTcpBridge(live.uart("ISU0"));
  const tcpPort = await bridge.listen(0);
  const real = new (await import("../../host/device.js")).Device({ board: live });
  real.start(await real.install(appFromDirectory(example("uart-echo"))));
  const stop = new AbortController();
  const running = real.run({ signal: stop.signal });
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(tcpPort, "127.0.0.1", () => socket.write("over tcp\n"));
      let got = "";
      socket.on("data", (d) => { got += d.toString(); if (got.endsWith("\n")) { socket.end(); resolve(got); } });
      socket.on("error", reject);
      setTimeout(() => reject(new Error(`no echo in 10 s (got ${JSON.stringify(got)})`)), 10_000).unref();
    });
    assert.equal(reply, "echo: over tcp\n");
  } finally {
    stop.abort();
    await running.catch(() => {});
    await bridge.close();
  }
});

test("examples/dimmer: the knob's voltage sets the LED's duty cycle, in whole percents", async () => {
  assert.deepEqual(capsOf("dimmer"), { Adc: ["ADC-CONTROLLER-0"], Pwm: ["PWM-CONTROLLER-0"] });
  const board = new Board(defaultBoardSpecs(96));
  let knobVolts = 0.625; // a quarter of the 2.5 V reference
  board.adc("ADC-CONTROLLER-0").wire(0, () => knobVolts);
  const dev = device({ board });
  dev.start(await dev.install(appFromDirectory(example("dimmer"))));
  await dev.run({ untilMs: 120 });
  assert.deepEqual(board.pwm("PWM-CONTROLLER-0").state(0), { periodNs: 1_000_000, dutyCycleNs: 250_000, polarity: 0, enabled: true });
  knobVolts = 2.5;
  await dev.run({ untilMs: 240 });
  assert.equal(board.pwm("PWM-CONTROLLER-0").state(0)!.dutyCycleNs, 1_000_000);
  // Two states applied, each shown once in the run log (no apply while the knob holds still).
  assert.deepEqual(dev.events.of("periph").map((e) => `${e.iface}: ${e.text}`), [
    "PWM-CONTROLLER-0: channel 0: 25.0 % of 1,000,000 ns, normal",
    "PWM-CONTROLLER-0: channel 0: 100.0 % of 1,000,000 ns, normal",
  ]);
});
