/**
 * Charts for the notebooks and the report: vega-lite specs compiled to vega and rendered to SVG by vega's headless
 * View (no browser, no canvas), then rasterised to PNG by sharp. The PNG is what notebooks and the report show: it
 * survives nbconvert's HTML export (which strips inline SVG to bare text), untrusted notebooks (which hide SVG),
 * GitHub and VS Code. vega, vega-lite and sharp load on first use, and no vega-lite types are imported here, so
 * importing this file costs next to nothing.
 */

export interface ChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Plot area in pixels. Default 480 x 200. */
  width?: number;
  height?: number;
}

export interface HistogramOptions extends ChartOptions {
  /** Most bins (vega-lite picks a nice step under it). Default 30. */
  bins?: number;
  /** Bin width; overrides bins. */
  step?: number;
  /** Range binned; default the data's. */
  extent?: [number, number];
  /**
   * d3 format of the x axis labels. Default: whole numbers ("d": 100, 1000) when every value is an integer,
   * otherwise plain decimals ("~r": 0.05, 1).
   */
  format?: string;
}

export interface Bar {
  label: string;
  value: number;
  /** Bars sharing a label are stacked, coloured by group. */
  group?: string;
}

export interface BarOptions extends ChartOptions {
  /** Labels down the side instead of along the bottom: better for long labels. */
  horizontal?: boolean;
  /** Bars sharing a label side by side instead of stacked: for values that do not add up (rates, scores). */
  sideBySide?: boolean;
  /** The values are shares (0-1): the value axis reads 0% to 100%. */
  percent?: boolean;
}

type Spec = Record<string, unknown>;

// The little of vega, vega-lite and sharp used here, typed locally: their own types add some 300 declaration
// files to what tslab parses for a notebook that imports lib/frames.
interface Vega {
  View: new (runtime: unknown, options: { renderer: "none" }) => { toSVG(): Promise<string>; finalize(): void };
  parse(spec: unknown): unknown;
  bin(options: { maxbins: number; extent: readonly number[]; step?: number }): { start: number; stop: number; step: number };
}
type Sharp = (input: Buffer, options: { density: number }) => { png(options: { compressionLevel: number }): { toBuffer(): Promise<Buffer> } };

/** Renders a vega-lite spec to an SVG string (no browser: vega's View with no renderer, text measured by estimate). */
export async function chartSvg(spec: Spec): Promise<string> {
  const vega = require("vega") as Vega;
  const { compile } = require("vega-lite") as { compile: (spec: unknown) => { spec: unknown } };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const frameOf = (o: ChartOptions): Spec => ({
  width: o.width ?? 480,
  height: o.height ?? 200,
  background: "white",
  ...(o.title ? { title: o.title } : {}),
});

/** Counts on an axis: whole numbers only ("d"), never 1e+2. */
const COUNT_AXIS = { tickMinStep: 1, format: "d" };

/**
 * A histogram of `values`, or of several named series stacked in one chart (coloured, with a legend).
 * One bar per non-empty bin (and series).
 */
export function histogramSvg(values: readonly number[] | Readonly<Record<string, readonly number[]>>, options: HistogramOptions = {}): Promise<string> {
  const series = Array.isArray(values) ? { "": values as readonly number[] } : (values as Readonly<Record<string, readonly number[]>>);
  const grouped = !Array.isArray(values);
  const finite = Object.entries(series).map(([name, xs]) => [name, xs.filter(Number.isFinite)] as const);
  const integers = finite.every(([, xs]) => xs.every(Number.isInteger)) && (options.step === undefined || Number.isInteger(options.step));
  // Binned here, with vega's own choice of bins, so vega draws a bar per bin and never holds one tuple per value:
  // the report's histograms count every paraphrase, 100,000 of them for the KEP corpus.
  let [min, max] = [Infinity, -Infinity];
  for (const [, xs] of finite) for (const x of xs) [min, max] = [Math.min(min, x), Math.max(max, x)];
  const vega = require("vega") as Vega;
  const extent = options.extent ?? (min <= max ? [min, max] : [0, 1]);
  const { start, stop, step } = vega.bin({ maxbins: options.bins ?? 30, extent, ...(options.step ? { step: options.step } : {}) });
  // The last bin holds its upper edge too.
  const last = Math.max(0, Math.round((stop - start) / step) - 1);
  const data = finite.flatMap(([name, xs]) => {
    const counts = new Map<number, number>();
    for (const x of xs) {
      if (x < start || x > stop) continue;
      const at = Math.min(Math.floor((x - start) / step + 1e-9), last);
      counts.set(at, (counts.get(at) ?? 0) + 1);
    }
    return [...counts].map(([at, count]) => ({ start: start + at * step, end: start + (at + 1) * step, count, series: name }));
  });
  return chartSvg({
    ...frameOf(options),
    data: { values: data },
    mark: { type: "bar", binSpacing: 1 },
    encoding: {
      // vega lets d3 pick the precision of a "g" format from the tick step, which writes 100 and 1000 as 1e+2
      // and 1e+3: whole numbers get "d", fractions "~r" (0.05, 0.1, 1).
      x: { field: "start", type: "quantitative", bin: { binned: true, step }, scale: { domain: [start, stop] }, title: options.xTitle ?? "value", axis: { format: options.format ?? (integers ? "d" : "~r") } },
      x2: { field: "end" },
      y: { field: "count", type: "quantitative", stack: "zero", title: options.yTitle ?? "rows", axis: COUNT_AXIS },
      ...(grouped ? { color: { field: "series", type: "nominal", title: null, sort: Object.keys(series) } } : {}),
    },
  });
}

/** A bar per label, in the order given; bars with a group are stacked by it, or set side by side (coloured, with a legend). */
export function barSvg(bars: readonly Bar[], options: BarOptions = {}): Promise<string> {
  const labels = [...new Set(bars.map((b) => b.label))];
  const groups = [...new Set(bars.flatMap((b) => (b.group === undefined ? [] : [b.group])))];
  // Without a canvas vega estimates text widths generously, so labels get room to spare before they are cut.
  const [labelTitle, valueTitle] = options.horizontal ? [options.yTitle, options.xTitle] : [options.xTitle, options.yTitle];
  const axis = options.horizontal ? { labelLimit: 560 } : { labelLimit: 160, labelAngle: 0 };
  const category = { field: "label", type: "nominal", sort: labels, title: labelTitle ?? null, axis };
  const integers = bars.every((b) => Number.isInteger(b.value));
  const valueAxis = options.percent ? { format: ".0%" } : integers ? COUNT_AXIS : { format: "~r" };
  const amount = { field: "value", type: "quantitative", title: valueTitle ?? null, axis: valueAxis, ...(options.percent ? { scale: { domain: [0, 1] } } : {}) };
  return chartSvg({
    ...frameOf(options),
    data: { values: bars.map((b) => ({ label: b.label, value: b.value, group: b.group ?? "" })) },
    mark: "bar",
    encoding: {
      ...(options.horizontal ? { y: category, x: amount } : { x: category, y: amount }),
      ...(groups.length ? { color: { field: "group", type: "nominal", title: null, sort: groups } } : {}),
      ...(groups.length && options.sideBySide ? { [options.horizontal ? "yOffset" : "xOffset"]: { field: "group", type: "nominal", sort: groups } } : {}),
    },
  });
}

export interface BarsOfOptions {
  /** Stacks or groups the bars under this name. */
  group?: string;
  /** Leaves out keys counted 0 (an empty "other" bar says nothing). */
  omitZero?: boolean;
}

/** Bars from a count record (countBy's output, a verdict tally): one bar per key, in the record's order. */
export function barsOf(counts: Readonly<Record<string, number>>, options: BarsOfOptions | string = {}): Bar[] {
  const { group, omitZero } = typeof options === "string" ? { group: options, omitZero: false } : options;
  return Object.entries(counts)
    .filter(([, value]) => !(omitZero && value === 0))
    .map(([label, value]) => ({ label, value, ...(group === undefined ? {} : { group }) }));
}

// ---------------------------------------------------------------------------------------------------------------
// PNG

/** Pixels per SVG pixel in the PNG: sharp on high-density screens, shown at the SVG's size. */
export const PNG_SCALE = 2;

export interface ChartPng {
  png: Buffer;
  /** The chart's size in CSS pixels (the SVG's); the PNG has PNG_SCALE times as many pixels each way. */
  width: number;
  height: number;
  /** The chart's title, for alt text; "chart" when it has none. */
  title: string;
}

/** The width and height attributes of an SVG's root element. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? "";
  const attr = (name: string) => Number(new RegExp(`\\b${name}="([\\d.]+)"`).exec(root)?.[1]);
  const width = attr("width");
  const height = attr("height");
  if (!(width > 0 && height > 0)) throw new Error("chart SVG has no width and height on its root element");
  return { width, height };
}

/** The text of a vega chart's title (its role-title group), entities decoded. */
export function svgTitle(svg: string): string {
  const group = /<g class="mark-group role-title"[\s\S]*?<\/g><\/g><\/g>/.exec(svg)?.[0] ?? "";
  const text = [...group.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).join(" ");
  return text.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&").trim() || "chart";
}

/** Rasterises a chart's SVG to PNG with sharp (librsvg), at PNG_SCALE times its size. */
export async function chartPng(svg: string): Promise<ChartPng> {
  const sharp = require("sharp") as Sharp;
  const { width, height } = svgSize(svg);
  const png = await sharp(Buffer.from(svg), { density: 72 * PNG_SCALE }).png({ compressionLevel: 9 }).toBuffer();
  return { png, width, height, title: svgTitle(svg) };
}

const attrEscape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A chart as an <img> of its PNG in a data: URL, for a self-contained page (a CSP with img-src data: allows it). */
export async function chartImgHtml(svg: string): Promise<string> {
  const { png, width, height, title } = await chartPng(svg);
  return `<img src="data:image/png;base64,${png.toString("base64")}" width="${width}" height="${height}" alt="${attrEscape(title)}">`;
}
