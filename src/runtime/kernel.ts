/**
 * Compute kernels: WGSL source → reflected bindings → cached pipeline.
 *
 * Nothing about a kernel's interface is written twice. Binding names, groups,
 * access modes, element types and uniform struct offsets all come from
 * reflecting the WGSL with `wgsl_reflect`, so that a kernel's TypeScript
 * wrapper binds resources by name and packs uniforms from plain objects.
 *
 * @module
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { BindingError, show } from '../errors.js';
import type { DType } from './dtype.js';

/** What a kernel wrapper declares once, at module load. */
export interface KernelSpec {
  /** Name used in errors and profiles, e.g. `matmul` or `sparse.conv.forward`. */
  readonly name: string;
  /** WGSL source (embedded at build time from `src/wgsl`). */
  readonly source: string;
  /** Compute entry point; defaults to the only one in the source. */
  readonly entryPoint?: string;
}

/** Override constants, as WGSL `override` declarations receive them. */
export type OverrideConstants = Readonly<Record<string, number | boolean>>;

/** Scalar type of a uniform member or a storage array element. */
export type ScalarType = 'f32' | 'i32' | 'u32' | 'f16' | 'bool';

/** One reflected uniform struct member. */
export interface UniformField {
  name: string;
  offset: number;
  scalar: ScalarType;
  /** Number of scalars: 1 for scalars, 2/3/4 for vectors. */
  count: number;
}

/** One reflected binding of group 0. */
export interface BindingInfo {
  name: string;
  binding: number;
  kind: 'uniform' | 'read-only-storage' | 'storage';
  /** Element scalar type of a storage array, null for structs of mixed type. */
  elementType: ScalarType | null;
  /** Uniform struct layout (uniform bindings only); `names` holds the member names, for checking values by name. */
  uniform?: { size: number; fields: UniformField[]; names: ReadonlySet<string> };
}

/** Reflection of one kernel, shared by every constants variant of it. */
export interface KernelLayout {
  readonly bindings: readonly BindingInfo[];
  readonly overrides: readonly string[];
  readonly entryPoint: string;
}

const SCALARS = new Set<string>(['f32', 'i32', 'u32', 'f16', 'bool']);

function scalarOf(type: { name: string; format?: { name: string; format?: unknown } | null }): ScalarType | null {
  if (SCALARS.has(type.name)) return type.name as ScalarType;
  const format = (type as { format?: { name: string; format?: { name: string } | null } | null }).format;
  if (!format) return null;
  // array<atomic<u32>>, array<vec4<f32>>, vec3<f32> ...
  return scalarOf(format as { name: string });
}

function vectorCount(name: string): number {
  const m = /^vec([234])/.exec(name);
  return m ? Number(m[1]) : 1;
}

/** Reflects a kernel's group-0 bindings, uniform layouts and overrides. */
export function reflectKernel(spec: KernelSpec): KernelLayout {
  const reflect = new WgslReflect(spec.source);
  const computes = reflect.entry.compute;
  const entry = spec.entryPoint
    ? computes.find((e) => e.name === spec.entryPoint)
    : computes.length === 1
      ? computes[0]
      : undefined;
  if (!entry) {
    throw new BindingError(
      `kernel ${spec.name}: entry point ${show(spec.entryPoint ?? '(unspecified)')} not found among ` +
        `${show(computes.map((e) => e.name))}; name one of them in the KernelSpec`,
    );
  }
  const used = new Set(entry.resources.map((r) => r.name));
  const bindings: BindingInfo[] = [];
  for (const group of reflect.getBindGroups()) {
    for (const v of group) {
      if (!v || !used.has(v.name)) continue;
      if (v.group !== 0) {
        throw new BindingError(`kernel ${spec.name}: binding ${v.name} is in group ${v.group}; ghostgrad kernels use group 0 only`);
      }
      if (v.resourceType === 0) {
        const members = (v.type as unknown as { members?: { name: string; offset: number; type: { name: string } }[] }).members;
        if (!members) {
          throw new BindingError(`kernel ${spec.name}: uniform ${v.name} must be a struct so that it can be packed by name`);
        }
        const fields = members.map((m) => {
          const scalar = scalarOf(m.type as { name: string });
          if (!scalar) {
            throw new BindingError(`kernel ${spec.name}: uniform member ${v.name}.${m.name} has type ${m.type.name}; use scalars or vectors`);
          }
          return { name: m.name, offset: m.offset, scalar, count: vectorCount(m.type.name) };
        });
        bindings.push({
          name: v.name,
          binding: v.binding,
          kind: 'uniform',
          elementType: null,
          uniform: { size: v.type.size, fields, names: new Set(fields.map((f) => f.name)) },
        });
      } else if (v.resourceType === 1) {
        bindings.push({
          name: v.name,
          binding: v.binding,
          kind: v.access === 'read_write' ? 'storage' : 'read-only-storage',
          elementType: scalarOf(v.type as { name: string }),
        });
      } else {
        throw new BindingError(`kernel ${spec.name}: binding ${v.name} is a texture or sampler; compute kernels here take buffers only`);
      }
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  return { bindings, overrides: reflect.overrides.map((o) => o.name), entryPoint: entry.name };
}

/** A compiled, cached pipeline variant of a kernel. */
export interface CompiledKernel {
  readonly spec: KernelSpec;
  readonly layout: KernelLayout;
  readonly constants: OverrideConstants;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroupLayout: GPUBindGroupLayout;
  /** Id of the bind-group layout, shared by kernels with the same binding signature (bind-group cache key). */
  readonly groupLayoutId: number;
  /** Bytes this kernel's uniform structs take in the arena (each aligned to minUniformBufferOffsetAlignment). */
  readonly uniformBytes: number;
  /** Uniform names → binding info, for packing. */
  readonly byName: ReadonlyMap<string, BindingInfo>;
}

/**
 * Builds the explicit bind-group layout that reflection implies. Uniform
 * structs are bound with a dynamic offset: per-dispatch values live at an
 * offset into one arena, so that a bind group can be reused across dispatches.
 */
export function bindGroupLayoutFor(device: GPUDevice, spec: KernelSpec, layout: KernelLayout): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    label: spec.name,
    entries: layout.bindings.map((b) => ({
      binding: b.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: b.kind === 'uniform' ? { type: b.kind, hasDynamicOffset: true } : { type: b.kind },
    })),
  });
}

/** Checks that a storage binding's element type accepts a tensor dtype. */
export function checkElementType(kernel: string, info: BindingInfo, dtype: DType, what: string): void {
  if (info.elementType === null || info.elementType === dtype) return;
  throw new BindingError(
    `kernel ${kernel}: binding ${info.name} expects ${info.elementType} elements but got ${what} of dtype ${dtype}; ` +
      `convert the tensor or bind a ${info.elementType} tensor`,
  );
}

/** Uniform values: scalars and vectors by member name. */
export type UniformValues = Readonly<Record<string, number | boolean | readonly number[]>>;

/**
 * Packs a uniform struct from named values into `target` at `byteOffset`,
 * using reflected member offsets. Missing or extra members are errors.
 */
export function packUniform(
  kernel: string,
  info: BindingInfo,
  values: UniformValues,
  target: DataView,
  byteOffset: number,
): void {
  const layout = info.uniform!;
  const known = layout.names;
  for (const key in values) {
    if (!known.has(key)) {
      throw new BindingError(
        `kernel ${kernel}: uniform ${info.name} has no member ${show(key)}; its members are ${show([...known])}`,
      );
    }
  }
  for (const f of layout.fields) {
    const raw = values[f.name];
    if (raw === undefined) {
      throw new BindingError(`kernel ${kernel}: uniform ${info.name}.${f.name} (${f.scalar}) is missing; pass it by name`);
    }
    const list: readonly (number | boolean)[] = Array.isArray(raw) ? raw : [raw as number | boolean];
    if (list.length !== f.count) {
      throw new BindingError(
        `kernel ${kernel}: uniform ${info.name}.${f.name} needs ${f.count} value(s), got ${show(list)}`,
      );
    }
    for (let i = 0; i < f.count; i++) {
      const at = byteOffset + f.offset + i * (f.scalar === 'f16' ? 2 : 4);
      const v = Number(list[i]);
      switch (f.scalar) {
        case 'f32':
          target.setFloat32(at, v, true);
          break;
        case 'i32':
          target.setInt32(at, v, true);
          break;
        case 'u32':
        case 'bool':
          if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) {
            throw new BindingError(`kernel ${kernel}: uniform ${info.name}.${f.name} = ${show(v)} is not a u32`);
          }
          target.setUint32(at, v, true);
          break;
        case 'f16':
          throw new BindingError(`kernel ${kernel}: f16 uniform members are not supported; use f32`);
      }
    }
  }
}
