// The shipped pretrained U-ResNets by name: found next to the package's
// modules, or given as a URL or bytes; the same bits as loading the file.
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.js';
import { InputValueError } from '../../src/errors.js';
import { PRETRAINED_URESNETS, loadPretrainedUResNet, predict, pretrainedUResNetUrl, uresnetFromSafetensors } from '../../src/models/index.js';
import { bits, smallEvents } from './helpers.js';

describe('pretrained U-ResNets', () => {
  it('every name resolves to a shipped file with the stated configuration', () => {
    for (const name of Object.keys(PRETRAINED_URESNETS) as (keyof typeof PRETRAINED_URESNETS)[]) {
      const url = pretrainedUResNetUrl(name);
      expect(url.protocol).toBe('file:');
      expect(fileURLToPath(url).endsWith(`examples/uresnet/${PRETRAINED_URESNETS[name].file}`)).toBe(true);
      expect(readFileSync(url).byteLength).toBeGreaterThan(1000);
    }
  });

  it('loads by name, from a file URL or from bytes, with predictions bitwise equal to loading the file', async () => {
    const ctx = await testGpu();
    const base = ctx.stats().liveBytes;
    const event = smallEvents(1, 3)[0]!;
    const bytes = new Uint8Array(readFileSync(pretrainedUResNetUrl('uresnet-small')));
    const direct = uresnetFromSafetensors(ctx, bytes);
    const expected = await predict(direct, event);
    direct.dispose();
    for (const options of [{}, { source: pretrainedUResNetUrl('uresnet-small').href }, { source: pathToFileURL(fileURLToPath(pretrainedUResNetUrl('uresnet-small'))) }, { source: bytes }]) {
      const model = await loadPretrainedUResNet(ctx, 'uresnet-small', options);
      expect(model.config.depth).toBe(3);
      const got = await predict(model, event);
      expect(bits(got.scores)).toEqual(bits(expected.scores));
      model.dispose();
    }
    const big = await loadPretrainedUResNet(ctx, 'uresnet-d4f16');
    expect([big.config.depth, big.config.filters]).toEqual([4, 16]);
    big.dispose();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(base);
  });

  it('refuses unknown names and options, a non-URL source and a missing file, saying what to do', async () => {
    const ctx = await testGpu();
    await expect(loadPretrainedUResNet(ctx, 'uresnet-huge' as never)).rejects.toThrow(/unknown model "uresnet-huge"; the shipped models are uresnet-d4f16, uresnet-small/);
    await expect(loadPretrainedUResNet(ctx, 'uresnet-small', { sorce: 'x' } as never)).rejects.toThrow(/unknown option "sorce"/);
    await expect(loadPretrainedUResNet(ctx, 'uresnet-small', { source: 'not a url' })).rejects.toThrow(/is not a URL/);
    const missing = loadPretrainedUResNet(ctx, 'uresnet-small', { source: 'file:///no/such/model.safetensors' });
    await expect(missing).rejects.toThrow(InputValueError);
    await expect(loadPretrainedUResNet(ctx, 'uresnet-small', { source: 'file:///no/such/model.safetensors' })).rejects.toThrow(/pass options\.source/);
  });
});
