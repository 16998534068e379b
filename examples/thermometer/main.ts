// thermometer: reads a Sensirion SHT3x on I2C (ISU1, address 0x44) once a second, checks each
// word's CRC-8 as the datasheet gives it, logs the temperature and humidity, and keeps the running
// average of its readings in its mutable file, so the average carries across restarts and reboots
// (on a device without a data partition, for the run only). When its CmdArgs name an http:// URL,
// it posts each reading there as JSON ({"celsius":..,"humidity":..,"average":..}); the manifest's
// AllowedConnections must list the URL's host. A post's outcome is logged when it changes (the
// first success, each failure after a success), so a missing server does not flood the log.
import { i2c, board, log, sleepMs, storage, args, httpPost } from "@wasphere/sdk";

const SENSOR_ADDRESS = 0x44;
// Single shot, high repeatability, no clock stretching (datasheet 4.3); it takes at most 15 ms.
const MEASURE_HIGH: u16 = 0x2400;
const MEASURE_MS = 16;
const PERIOD_MS = 1000;

/** CRC-8 of the datasheet (polynomial 0x31, init 0xff) over two bytes at `p`. */
function crc8(p: usize): u8 {
  let crc: u32 = 0xff;
  for (let i = 0; i < 2; i++) {
    crc ^= <u32>load<u8>(p + <usize>i);
    for (let b = 0; b < 8; b++) crc = (crc & 0x80) != 0 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return <u8>crc;
}

/** Hundredths as "12.34" (negative too). */
function fixed2(hundredths: i32): string {
  const sign = hundredths < 0 ? "-" : "";
  const v = hundredths < 0 ? -hundredths : hundredths;
  const frac = v % 100;
  return sign + (v / 100).toString() + "." + (frac < 10 ? "0" : "") + frac.toString();
}

/** Posts one reading as JSON to `url`: "200" or the error's text. */
function post(url: string, centiC: i32, centiRH: i32, averageCentiC: i32): string {
  const body = "{\"celsius\":" + fixed2(centiC) + ",\"humidity\":" + fixed2(centiRH) + ",\"average\":" + fixed2(averageCentiC) + "}";
  const r = httpPost(url, body, "application/json", 2000, 4096);
  if (r.error != 0) return "error " + r.error.toString() + (r.error == -100 ? " (networking not ready)" : r.error == -13 ? " (the host is not in AllowedConnections)" : "");
  return r.response!.status.toString();
}

export function main(): i32 {
  const cmd = args();
  const url = cmd.length > 0 ? cmd[0] : "";
  let lastPost = "";
  const bus = i2c.open(board.ISU1);
  if (bus < 0) { log("cannot open ISU1 as I2C (error " + bus.toString() + ")"); return 1; }
  i2c.configure(bus, i2c.SPEED_FAST, 100);
  // The average so far: count u32, sum of hundredths of a degree i64; kept in the mutable file.
  const state = new ArrayBuffer(12);
  const file = storage.openMutableFile();
  if (file < 0) {
    log("no mutable storage (error " + file.toString() + "): the average covers this run only");
  } else {
    const stored = storage.readAll(file);
    if (stored != null && stored.byteLength == 12) memory.copy(changetype<usize>(state), changetype<usize>(stored), 12);
  }
  const command = new ArrayBuffer(2);
  store<u8>(changetype<usize>(command), <u8>(MEASURE_HIGH >> 8));
  store<u8>(changetype<usize>(command), <u8>(MEASURE_HIGH & 0xff), 1);
  const reading = new ArrayBuffer(6);
  while (true) {
    let rc = i2c.write(bus, SENSOR_ADDRESS, command);
    if (rc == 2) {
      sleepMs(MEASURE_MS);
      rc = i2c.read(bus, SENSOR_ADDRESS, reading);
    }
    const r = changetype<usize>(reading);
    if (rc != 6) {
      log("SHT3x: no reading (error " + rc.toString() + ")");
    } else if (crc8(r) != load<u8>(r, 2) || crc8(r + 3) != load<u8>(r, 5)) {
      log("SHT3x: CRC mismatch, reading dropped");
    } else {
      const rawT = (<i32>load<u8>(r) << 8) | <i32>load<u8>(r, 1);
      const rawH = (<i32>load<u8>(r, 3) << 8) | <i32>load<u8>(r, 4);
      // T = -45 + 175 * raw / 65535, RH = 100 * raw / 65535 (datasheet 4.13), in hundredths.
      const centiC = <i32>((<i64>17500 * rawT) / 65535) - 4500;
      const centiRH = <i32>((<i64>10000 * rawH) / 65535);
      const s = changetype<usize>(state);
      const count = load<u32>(s) + 1;
      const sum = load<i64>(s, 4) + centiC;
      store<u32>(s, count);
      store<i64>(s, sum, 4);
      if (file >= 0) {
        storage.seek(file, 0);
        storage.writeAll(file, state);
      }
      const average = <i32>(sum / <i64>count);
      log(fixed2(centiC) + " C, " + fixed2(centiRH) + " %RH (average of " + count.toString() + ": " + fixed2(average) + " C)");
      if (url.length > 0) {
        const outcome = post(url, centiC, centiRH, average);
        if (outcome != lastPost) log("post to " + url + ": " + outcome);
        lastPost = outcome;
      }
    }
    sleepMs(PERIOD_MS - MEASURE_MS);
  }
}
