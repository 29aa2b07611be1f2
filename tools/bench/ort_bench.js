// Times ONNX Runtime (CPU execution provider) on one model: median latency in ms.
// usage: node ort_bench.js MODEL.onnx BATCH THREADS REPEATS
// Prints two lines: "version <ONNX Runtime version as loaded>" and "ort <median_ms> <min_ms>".
const ort = require('onnxruntime-node');

async function main() {
  const [model, batch, threads, repeats] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const n = Number(batch) * 3 * 224 * 224;
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [Number(batch), 3, 224, 224]) };
  await session.run(feeds); // warm-up
  const times = [];
  for (let i = 0; i < Number(repeats); i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`version ${ort.env.versions.node || ort.env.versions.common}`);
  console.log(`ort ${times[Math.floor(times.length / 2)].toFixed(2)} ${times[0].toFixed(2)}`);
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
