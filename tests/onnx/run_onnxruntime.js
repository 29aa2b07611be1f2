// Runs an ONNX model with onnxruntime-node on one float32 input.
//   node run_onnxruntime.js MODEL.onnx INPUT.raw|INPUT.json DIMS(a,b,...) OUTPUT_NAME OUT.raw
// INPUT.raw holds little-endian float32 values; INPUT.json a flat array. The
// named output is written to OUT.raw as float32 and its dims printed.
// The input name is the model's first input. Needs onnxruntime-node (NODE_PATH
// or tools/bench/node_modules).
'use strict';
const fs = require('fs');
const path = require('path');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  ort = require(path.join(__dirname, '..', '..', 'tools', 'bench', 'node_modules', 'onnxruntime-node'));
}

async function main() {
  const [model, input, dimsArg, outName, outPath] = process.argv.slice(2);
  if (!outPath) {
    console.error('usage: run_onnxruntime.js MODEL INPUT.raw|.json DIMS OUTPUT_NAME OUT.raw');
    process.exit(2);
  }
  const dims = dimsArg.split(',').map(Number);
  let data;
  if (input.endsWith('.json')) {
    data = Float32Array.from(JSON.parse(fs.readFileSync(input, 'utf8')));
  } else {
    const buf = fs.readFileSync(input);
    data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  }
  const session = await ort.InferenceSession.create(model);
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  const results = await session.run(feeds);
  const out = results[outName];
  if (!out) {
    console.error(`no output '${outName}' (have ${Object.keys(results).join(', ')})`);
    process.exit(1);
  }
  fs.writeFileSync(outPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(`${outName}: [${out.dims.join(', ')}]`);
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
