/**
 * The layers of docs/architecture.md, enforced: `npm run lint` fails on an import against the
 * direction. kernel ← features ← adapters ← app; simulators and features stand on the kernel
 * alone; the app loads the simulated fleet only by dynamic import (the demo), never statically.
 */
const KERNEL = '^src/kernel/';
const FEATURES = '^(collectors|rules)/|^src/(devices|silences|workorders|auth|audit|notify|reports)/';
const ADAPTERS = '^src/(storage|broker)/';
const APP = '^src/(app|api|cli|config|console)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'kernel-imports-only-kernel',
      comment: 'The kernel (catalogue, device and sample types, grades, time, shared ports) is the base: it imports nothing of ours outside itself.',
      severity: 'error',
      from: { path: KERNEL },
      to: { path: '^(src|collectors|rules|simulators|bench|test)/', pathNot: KERNEL },
    },
    {
      name: 'feature-imports-kernel-and-itself',
      comment: 'A top-level feature (collectors, rules) stands on the kernel: no other feature, adapter or the app. Other features are reached through kernel ports the app wires.',
      severity: 'error',
      from: { path: '^(collectors|rules)/' },
      to: { path: '^(src|collectors|rules|simulators|bench|test)/', pathNot: [KERNEL, '^$1/'] },
    },
    {
      name: 'src-feature-imports-kernel-and-itself',
      comment: 'A feature under src/ (devices, silences, workorders, auth, audit, notify, reports) stands on the kernel: no other feature, adapter or the app.',
      severity: 'error',
      from: { path: '^src/(devices|silences|workorders|auth|audit|notify|reports)/' },
      to: { path: '^(src|collectors|rules|simulators|bench|test)/', pathNot: [KERNEL, '^src/$1/'] },
    },
    {
      name: 'adapter-imports-kernel-features-itself',
      comment: 'An adapter (SQL, SQLite and InfluxDB stores, the embedded broker) implements ports and may use the records of the feature it stores; it never reaches the app, the simulators or the tests.',
      severity: 'error',
      from: { path: ADAPTERS },
      to: { path: `${APP}|^(simulators|bench|test)/` },
    },
    {
      name: 'app-loads-simulators-dynamically',
      comment: 'The simulated fleet is the demo: the app loads it with import() so the engine does not depend on it. The `guardian simulate` command (src/cli/simulate.ts, itself loaded with import()) is its own front end.',
      severity: 'error',
      from: { path: APP, pathNot: '^src/cli/simulate\\.ts$' },
      to: { path: '^simulators/', dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
    {
      name: 'app-is-not-imported',
      comment: 'Nothing below the app imports it (composition, API, CLI, config).',
      severity: 'error',
      from: { path: `${KERNEL}|${FEATURES}|${ADAPTERS}|^simulators/` },
      to: { path: APP },
    },
    {
      name: 'simulators-import-kernel-only',
      comment: 'The simulators are the device side of the MQTT contract: they share the catalogue and device types, nothing of the engine.',
      severity: 'error',
      from: { path: '^simulators/' },
      to: { path: '^(src|collectors|rules|bench|test)/', pathNot: KERNEL },
    },
    {
      name: 'product-does-not-import-tests',
      comment: 'Benchmarks and the product build without test code.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|data|coverage|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
