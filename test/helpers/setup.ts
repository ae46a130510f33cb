import { mkdirSync } from 'node:fs';

// Dawn's Vulkan loader wants a runtime directory; CI shells often have none.
if (!process.env['XDG_RUNTIME_DIR']) {
  const dir = '/tmp/ghostgrad-xdg';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env['XDG_RUNTIME_DIR'] = dir;
}
