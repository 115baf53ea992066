// upscalerjs_check.js - runs a TF.js layers model (model.json + shards) on a raw input, in node.
//
//   NODE_PATH=runs/npm/node_modules node scripts/upscalerjs_check.js MODEL.json IN.f32 H W OUT.f32
//
// IN.f32: H x W x 3 little-endian float32 (NHWC, 0..255); OUT.f32 receives the model's output
// the same way. Pure-JS @tensorflow/tfjs on its "cpu" backend: the reference the PyTorch port of
// scripts/convert_upscalerjs.py is checked against.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelPath, inPath, hs, ws, outPath] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: upscalerjs_check.js MODEL.json IN.f32 H W OUT.f32');
  await tf.setBackend('cpu');
  const mj = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const specs = [];
  const bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(modelPath), p)));
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology, weightSpecs: specs, weightData}));
  const h = parseInt(hs, 10), w = parseInt(ws, 10);
  const raw = fs.readFileSync(inPath);
  const x = new Float32Array(raw.buffer, raw.byteOffset, h * w * 3);
  const y = model.predict(tf.tensor4d(Float32Array.from(x), [1, h, w, 3]));
  const out = await y.data();
  fs.writeFileSync(outPath, Buffer.from(new Float32Array(out).buffer));
  console.log(`tfjs ${tf.version.tfjs} (${tf.getBackend()}): ${model.layers.length} layers, ` +
              `output ${y.shape.join('x')}`);
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
