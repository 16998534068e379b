// Compute kernels for measuring what instrumentation costs (tools/bench-instrument.ts) and for
// checking that instrumented and plain builds compute the same results (tests/host/instrument).
// `configure` picks a kernel and its size (called outside a slice); `main` runs it once.

const BUFFER_BYTES = 64 * 1024;
const buffer = memory.data(BUFFER_BYTES);

let kernel: i32 = 0;
let size: i32 = 0;

export function configure(which: i32, n: i32): void {
  kernel = which;
  size = n;
}

/** FNV-1a over a 64 KiB buffer that a xorshift generator refills each round. */
function hashRounds(rounds: i32): i32 {
  let seed: u32 = 0x9e3779b9;
  let hash: u32 = 0x811c9dc5;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < BUFFER_BYTES; i += 4) {
      seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
      store<u32>(buffer + i, seed);
    }
    for (let i = 0; i < BUFFER_BYTES; i++) {
      hash = (hash ^ load<u8>(buffer + i)) * 0x01000193;
    }
  }
  return <i32>hash;
}

function fib(n: i32): i32 {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** Integer matrix multiply, n x n, in the buffer (n <= 64). */
function matmul(n: i32, rounds: i32): i32 {
  const a = buffer, b = buffer + 16384, c = buffer + 32768;
  for (let i = 0; i < n * n; i++) { store<i32>(a + (i << 2), i * 7 + 1); store<i32>(b + (i << 2), i * 3 - 5); }
  let check = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += load<i32>(a + ((i * n + k) << 2)) * load<i32>(b + ((k * n + j) << 2));
        store<i32>(c + ((i * n + j) << 2), sum);
      }
    }
    check ^= load<i32>(c + (((r % n) * n + (r % n)) << 2)) + r;
  }
  return check;
}

export function main(): i32 {
  if (kernel == 0) return hashRounds(size);
  if (kernel == 1) return fib(size);
  return matmul(32, size);
}
