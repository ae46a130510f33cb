// wgsl_reflect 1.6's bare specifier resolves to a CommonJS-flavoured file that Node ESM cannot load; its ESM build has no own typings.
declare module 'wgsl_reflect/wgsl_reflect.module.js' { export * from 'wgsl_reflect'; }
