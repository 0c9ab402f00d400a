#!/usr/bin/env node
// Builds the native kernel addon (native/ -> build/Release/ldm_native.node) with node-gyp.
// Runs on `npm install`. Checks the system prerequisites first so that a missing package
// gives a message naming what to install instead of a compiler error.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(`\nlatent-diffusion: cannot build the native kernels.\n${message}\n`);
  process.exit(1);
}

const compiler = spawnSync('g++', ['--version'], { encoding: 'utf8' });
if (compiler.status !== 0) {
  fail('No C++ compiler (g++) was found. On Debian/Ubuntu: apt-get install g++ make python3');
}
if (!existsSync('/usr/include/eigen3/Eigen/Core')) {
  fail('The Eigen headers were not found at /usr/include/eigen3. On Debian/Ubuntu: apt-get install libeigen3-dev');
}

// npm passes the path of its bundled node-gyp; fall back to one on PATH.
const nodeGyp = process.env.npm_config_node_gyp;
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const build = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  fail('node-gyp failed (see its output above). It needs python3, make and g++.');
}
