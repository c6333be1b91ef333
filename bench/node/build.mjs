// The handler as one minified ES module with its dependencies, as `sam build` makes it
// with `BuildMethod: esbuild` (Format esm, the createRequire banner for CommonJS
// dependencies): dist/handler.mjs.
import { build } from 'esbuild'

await build({
  entryPoints: ['src/handler.mjs'],
  outfile: 'dist/handler.mjs',
  bundle: true,
  minify: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  mainFields: ['module', 'main'],
  banner: {
    js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  },
  logLevel: 'warning',
})
