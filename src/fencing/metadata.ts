/**
 * Parsing a fence agent's `metadata` answer: the XML every ClusterLabs agent prints to describe its
 * parameters and actions (fencing.py's metadata(), validated upstream against lib/metadata.rng).
 * The format is small and fixed, so a tiny tokenizer does instead of an XML dependency. It is
 * lenient where the agents are sloppy: fencing.py writes <longdesc> without escaping, so a stray
 * "&" or "<" in text is kept as text rather than refused.
 */
import { DroverError } from '../shared/errors.js';

/** One element of the parsed XML: its attributes, child elements and own text. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function isNameChar(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_' || c === '-' || c === ':' || c === '.';
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/** Replaces XML entities (named and numeric); an "&" that starts no entity stays as it is. */
export function decodeEntities(text: string): string {
  let out = '';
  let at = 0;
  while (at < text.length) {
    const amp = text.indexOf('&', at);
    if (amp < 0) break;
    out += text.slice(at, amp);
    const semi = text.indexOf(';', amp);
    const body = semi > amp && semi - amp <= 10 ? text.slice(amp + 1, semi) : '';
    let decoded: string | undefined = ENTITIES[body];
    if (decoded === undefined && body.startsWith('#')) {
      const code = body[1] === 'x' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
      if (Number.isInteger(code) && code > 0 && code <= 0x10ffff) decoded = String.fromCodePoint(code);
    }
    if (decoded === undefined) {
      out += '&';
      at = amp + 1;
    } else {
      out += decoded;
      at = semi + 1;
    }
  }
  return out + text.slice(at);
}

function malformed(why: string): DroverError {
  return new DroverError('FENCE_AGENT_FAILED', `the agent's metadata is not well-formed XML: ${why}`);
}

/** Elements fencing.py fills with unescaped text: their content is read up to the closing tag. */
const RAW_TEXT_ELEMENTS = new Set(['longdesc', 'shortdesc']);

/** Parses a small XML document into its root element; throws FENCE_AGENT_FAILED when it is malformed. */
export function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let at = 0;
  const top = (): XmlElement => stack[stack.length - 1] ?? root;
  while (at < xml.length) {
    const lt = xml.indexOf('<', at);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > at) top().text += decodeEntities(xml.slice(at, textEnd));
    if (lt < 0) break;
    if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt);
      if (end < 0) throw malformed('unterminated <?');
      at = end + 2;
    } else if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt);
      if (end < 0) throw malformed('unterminated comment');
      at = end + 3;
    } else if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt);
      if (end < 0) throw malformed('unterminated CDATA');
      top().text += xml.slice(lt + 9, end);
      at = end + 3;
    } else if (xml.startsWith('<!', lt)) {
      const end = xml.indexOf('>', lt);
      if (end < 0) throw malformed('unterminated <!');
      at = end + 1;
    } else if (xml[lt + 1] === '/') {
      const end = xml.indexOf('>', lt);
      if (end < 0) throw malformed('unterminated closing tag');
      const name = xml.slice(lt + 2, end).trim();
      const open = stack.pop();
      if (!open || open === root || open.name !== name) throw malformed(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      at = end + 1;
    } else if (isNameChar(xml[lt + 1] ?? '')) {
      at = parseStartTag(xml, lt, top(), stack);
      const element = top();
      if (RAW_TEXT_ELEMENTS.has(element.name) && element !== root) {
        const close = xml.indexOf(`</${element.name}>`, at);
        if (close < 0) throw malformed(`<${element.name}> is never closed`);
        element.text = decodeEntities(xml.slice(at, close));
        stack.pop();
        at = close + element.name.length + 3;
      }
    } else {
      // A bare "<" in text (fencing.py does not escape <longdesc>): keep it as text.
      top().text += '<';
      at = lt + 1;
    }
  }
  if (stack.length > 1) throw malformed(`<${top().name}> is never closed`);
  const element = root.children[0];
  if (!element || root.children.length > 1) throw malformed('there must be exactly one root element');
  return element;
}

/** Parses the start tag at `lt` into a child of `parent`; returns the index after it. */
function parseStartTag(xml: string, lt: number, parent: XmlElement, stack: XmlElement[]): number {
  let at = lt + 1;
  while (at < xml.length && isNameChar(xml[at] ?? '')) at++;
  const element: XmlElement = { name: xml.slice(lt + 1, at), attributes: {}, children: [], text: '' };
  while (true) {
    while (isSpace(xml[at])) at++;
    const c = xml[at];
    if (c === undefined) throw malformed(`<${element.name}> is not closed`);
    if (c === '>' || (c === '/' && xml[at + 1] === '>')) {
      parent.children.push(element);
      if (c === '>') stack.push(element);
      return at + (c === '>' ? 1 : 2);
    }
    const nameStart = at;
    while (at < xml.length && isNameChar(xml[at] ?? '')) at++;
    if (at === nameStart) throw malformed(`unexpected "${c}" in <${element.name}>`);
    const attribute = xml.slice(nameStart, at);
    while (isSpace(xml[at])) at++;
    if (xml[at] !== '=') throw malformed(`attribute ${attribute} of <${element.name}> has no value`);
    at++;
    while (isSpace(xml[at])) at++;
    const quote = xml[at];
    if (quote !== '"' && quote !== "'") throw malformed(`attribute ${attribute} of <${element.name}> is not quoted`);
    const end = xml.indexOf(quote, at + 1);
    if (end < 0) throw malformed(`attribute ${attribute} of <${element.name}> is not closed`);
    element.attributes[attribute] = decodeEntities(xml.slice(at + 1, end));
    at = end + 1;
  }
}

/** One parameter a fence agent takes on stdin, as its metadata describes it. */
export interface FenceAgentParameter {
  name: string;
  required: boolean;
  description: string;
  /** string, integer, boolean, select or second (fencing.py's content types). */
  type: string;
  default?: string;
  /** For type select: the values the agent accepts. */
  choices?: string[];
  /** An old name kept for compatibility; `obsoletedBy` names its replacement when the metadata says. */
  deprecated: boolean;
  obsoletedBy?: string;
  /** The old name this parameter replaces (fencing.py: ip obsoletes ipaddr). */
  obsoletes?: string;
}

/** What a fence agent says about itself in its metadata. */
export interface FenceAgentDescription {
  name: string;
  shortDescription: string;
  longDescription: string;
  parameters: FenceAgentParameter[];
  /** The actions it implements (on, off, reboot, status, monitor, list, metadata, ...). */
  actions: string[];
}

/** Parameters Drover always sets itself, so they are left out of the description. */
const SET_BY_DROVER = new Set(['action', 'option']);

/** Parses `metadata` XML into a description; throws FENCE_AGENT_FAILED when it is not agent metadata. */
export function parseFenceMetadata(xml: string): FenceAgentDescription {
  const root = parseXml(xml);
  if (root.name !== 'resource-agent') throw malformed(`the root element is <${root.name}>, not <resource-agent>`);
  const child = (element: XmlElement, name: string): XmlElement | undefined => element.children.find((c) => c.name === name);
  const parameters: FenceAgentParameter[] = [];
  for (const element of child(root, 'parameters')?.children ?? []) {
    const name = element.attributes.name;
    if (element.name !== 'parameter' || !name || SET_BY_DROVER.has(name)) continue;
    const content = child(element, 'content');
    const choices = content?.children.filter((c) => c.name === 'option').map((c) => c.attributes.value ?? '');
    const parameter: FenceAgentParameter = {
      name,
      required: element.attributes.required === '1',
      description: (child(element, 'shortdesc')?.text ?? child(element, 'longdesc')?.text ?? '').trim(),
      type: content?.attributes.type ?? 'string',
      deprecated: element.attributes.deprecated === '1',
    };
    if (content?.attributes.default !== undefined) parameter.default = content.attributes.default;
    if (choices?.length) parameter.choices = choices;
    if (element.attributes.obsoletes) parameter.obsoletes = element.attributes.obsoletes;
    parameters.push(parameter);
  }
  for (const parameter of parameters) {
    const replacement = parameters.find((p) => p.obsoletes === parameter.name);
    if (replacement) parameter.obsoletedBy = replacement.name;
  }
  return {
    name: root.attributes.name ?? '',
    shortDescription: root.attributes.shortdesc ?? '',
    longDescription: (child(root, 'longdesc')?.text ?? '').trim(),
    parameters,
    actions: (child(root, 'actions')?.children ?? []).filter((c) => c.name === 'action' && c.attributes.name).map((c) => c.attributes.name ?? ''),
  };
}

/** Option names compare with "-" and "_" alike, as fencing.py's stdin parser does. */
export function sameOptionName(a: string, b: string): boolean {
  return a.replaceAll('-', '_') === b.replaceAll('-', '_');
}

const BOOLEAN_VALUES = new Set(['0', '1', 'yes', 'no', 'on', 'off', 'true', 'false']);

/**
 * The problems with `options` for an agent so described: unknown names, missing required ones
 * (an old or new name of a parameter counts for both), values outside a select's choices, and
 * malformed integers or booleans. Empty when the options fit. Never quotes a value (it may be secret).
 */
export function checkOptionsAgainstAgent(description: FenceAgentDescription, options: Record<string, string>): string[] {
  const problems: string[] = [];
  const given = Object.keys(options);
  const find = (name: string): FenceAgentParameter | undefined => description.parameters.find((p) => sameOptionName(p.name, name));
  for (const key of given) {
    const parameter = find(key);
    const value = options[key] ?? '';
    if (!parameter) {
      problems.push(`${description.name} has no option "${key}"`);
    } else if (parameter.choices && !parameter.choices.includes(value)) {
      problems.push(`option ${key} must be one of ${parameter.choices.join(', ')}`);
    } else if (parameter.type === 'boolean' && !BOOLEAN_VALUES.has(value.toLowerCase())) {
      problems.push(`option ${key} is a boolean: give 1 or 0`);
    } else if (parameter.type === 'integer' && !/^[0-9]+$/.test(value)) {
      problems.push(`option ${key} must be a whole number`);
    } else if (parameter.type === 'second' && !/^[0-9]+(\.[0-9]+)?$/.test(value)) {
      problems.push(`option ${key} is a number of seconds`);
    }
  }
  for (const parameter of description.parameters) {
    // fencing.py marks both the new name and its deprecated alias required; one of them is enough.
    if (!parameter.required || parameter.obsoletedBy) continue;
    const names = [parameter.name, ...(parameter.obsoletes ? [parameter.obsoletes] : [])];
    if (!given.some((key) => names.some((name) => sameOptionName(name, key)))) problems.push(`option ${parameter.name} is required`);
  }
  return problems;
}
