/**
 * Synthetic LArTPC events with per-voxel PILArNet semantic labels, their
 * physics helpers and a 2D event display. Pure CPU. See docs/events.md.
 *
 * @module
 */
export * from './physics.js';
export * from './generator.js';
export * from './display.js';
