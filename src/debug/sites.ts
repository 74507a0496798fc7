/**
 * debug/sites.ts — the allocation and free sites a debug handle records (traceAllocations).
 *
 * Owns: the site word written to a debug block's header (the recording thread, and a tag that
 * marks the sites this handle recorded), the stacks captured at each allocation and free (JS
 * objects: a diagnostic cache by block serial, never heap state), and reading a block's sites
 * back for a report.
 * Must not: capture stacks itself. The hooks capture them in their own frames (debug/hooks.ts),
 * which report.ts's isOwnFrame leaves out by file: a frame of this file would show in every
 * report and leak listing. Nor read or write the heap: the hooks pass the header's words.
 */

import { isOwnFrame, stackText } from "./report.js";

/** Site words: thread id + 1 above this bit, the recording instance's tag below. */
const SITE_THREAD_SHIFT = 20;
const SITE_TAG_MASK = (1 << SITE_THREAD_SHIFT) - 1;

/** A block's sites: the stacks as captured (report.ts's userStack() makes a report's allocatedAt and freedAt of them). */
export interface BlockSites {
  allocatedStack?: string;
  freedStack?: string;
  allocatedInThread?: number;
  freedInThread?: number;
}

/** The sites of one debug handle (DebugState.sites). */
export class SiteLog {
  /** Stacks by block serial: where each block was allocated and freed (when traced here). */
  readonly allocSites = new Map<number, Error>();
  readonly freeSites = new Map<number, Error>();
  /**
   * Written to a header's site words: bits 20-31 the thread id + 1, bits 0-19 a tag marking
   * the sites this instance recorded (0 when it records none).
   */
  readonly siteWord: number;
  readonly traceTag: number;
  /** Thread id of this handle, when threads share the heap. */
  readonly threadId: number | undefined;

  /** Frames a site keeps that are not pymalloc's own (HeapOptions.traceAllocations). */
  private readonly frames: number;

  constructor(frames: number, threadId: number | undefined) {
    this.threadId = threadId;
    this.frames = frames;
    this.traceTag = frames !== 0 ? 1 + Math.floor(Math.random() * (SITE_TAG_MASK - 1)) : 0;
    this.siteWord = ((((threadId ?? 0) + 1) << SITE_THREAD_SHIFT) | this.traceTag) >>> 0;
  }

  /**
   * A captured stack with its first `frames` frames that are not pymalloc's own (the capture
   * allows for the most own frames a caller can have, OWN_TRACE_FRAMES: a JS caller's has room
   * for more of its own than it asked for).
   */
  private keep(stack: string | undefined): string | undefined {
    if (stack === undefined || this.frames === 0) return stack;
    const lines = stack.split("\n");
    const out = [lines[0]];
    for (let i = 1, n = 0; i < lines.length && n < this.frames; i++) {
      out.push(lines[i]);
      if (!isOwnFrame(lines[i].trim())) n++;
    }
    return out.join("\n");
  }

  /** The sites of block `serial`, from its header's site words `a` (allocation) and `f` (free). */
  sitesOf(serial: number, a: number, f: number): BlockSites {
    const mine = (w: number): boolean => this.traceTag !== 0 && (w & SITE_TAG_MASK) === this.traceTag;
    const sites: BlockSites = {
      allocatedStack: mine(a) ? this.keep(stackText(this.allocSites.get(serial))) : undefined,
      freedStack: mine(f) ? this.keep(stackText(this.freeSites.get(serial))) : undefined,
    };
    if (this.threadId !== undefined) {
      if (a >>> SITE_THREAD_SHIFT !== 0) sites.allocatedInThread = (a >>> SITE_THREAD_SHIFT) - 1;
      if (f >>> SITE_THREAD_SHIFT !== 0) sites.freedInThread = (f >>> SITE_THREAD_SHIFT) - 1;
    }
    return sites;
  }
}
