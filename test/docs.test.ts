/**
 * Docs stay true: the README documents every config variable and exactly two set-up commands, and every
 * Markdown table in README.md, ARCHITECTURE.md and docs/*.md renders as a table (parsed by markdown-it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import MarkdownIt from 'markdown-it';
import { CONFIG_VARIABLES } from '../src/config';

const ROOT = join(__dirname, '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Cells of a table row as GitHub and markdown-it split it: on every `|` not escaped as `\|` (code spans too). */
function rowCells(line: string): number {
  const inner = line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).length;
}

/**
 * What would not render as written: a line starting with `|` (outside code blocks) that is not part of a parsed
 * table, as rows after a blank line or without a delimiter row are; and a row with more cells than its header,
 * whose extra cells are dropped (an unescaped `|` inside a cell); and text right after a table, which becomes a
 * row. Each as `line N: …`.
 */
function tableProblems(markdown: string): string[] {
  const lines = markdown.split('\n');
  const inTable = new Set<number>();
  const inCode = new Set<number>();
  const problems: string[] = [];
  const tokens = new MarkdownIt().parse(markdown, {});
  let headerCells = 0;
  let headerPiped = false;
  for (const [i, token] of tokens.entries()) {
    const [start, end] = token.map ?? [0, 0];
    if (token.type === 'fence' || token.type === 'code_block' || token.type === 'html_block')
      for (let n = start; n < end; n++) inCode.add(n);
    if (token.type === 'table_open') for (let n = start; n < end; n++) inTable.add(n);
    if (token.type === 'thead_open') {
      headerCells = 0;
      headerPiped = lines[start]!.trimStart().startsWith('|');
      for (let j = i + 1; j < tokens.length && tokens[j]!.type !== 'thead_close'; j++)
        if (tokens[j]!.type === 'th_open') headerCells++;
    }
    if (token.type === 'tr_open' && token.map) {
      if (headerPiped && !lines[start]!.trimStart().startsWith('|'))
        problems.push(
          `line ${start + 1}: text right after a table becomes one of its rows (put a blank line before it)`,
        );
      const cells = rowCells(lines[start]!);
      if (cells > headerCells)
        problems.push(
          `line ${start + 1}: ${cells} cells under a header of ${headerCells}: the extra ones are dropped (escape a | inside a cell as \\|)`,
        );
    }
  }
  lines.forEach((line, n) => {
    if (line.trimStart().startsWith('|') && !inTable.has(n) && !inCode.has(n))
      problems.push(
        `line ${n + 1}: starts with | but is not in a table (a blank line or a missing delimiter row ends it): ${line.slice(0, 60)}`,
      );
  });
  return problems;
}

describe('README', () => {
  it('documents every environment variable the config module reads', () => {
    const missing = CONFIG_VARIABLES.filter((name) => !readme.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });

  it('has a quick start with exactly the two commands npm start and npm test', () => {
    const quickStart = readme.split('## Quick start')[1]!.split('\n## ')[0]!;
    const block = /```sh\n([\s\S]*?)```/.exec(quickStart)![1]!;
    const commands = block
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    assert.deepEqual(commands, ['npm start', 'npm test']);
  });
});

describe('Markdown tables render', () => {
  it('the check finds rows cut off by a blank line, text swallowed as a row and rows with an unescaped |', () => {
    const table = '| a | b |\n| - | - |\n| 1 | 2 |\n';
    assert.deepEqual(tableProblems(table), []);
    assert.deepEqual(tableProblems('| `a \\| b` | c |\n| - | - |\n| `x \\| y` | z |\n'), []);
    assert.deepEqual(tableProblems('```text\n| not a table\n```\n'), []);
    const cut = tableProblems(`${table}\n| 3 | 4 |\n`);
    assert.equal(cut.length, 1);
    assert.match(cut[0]!, /^line 5: starts with \| but is not in a table/);
    const swallowed = tableProblems(`${table}Durations accept 5m.\n`);
    assert.equal(swallowed.length, 1);
    assert.match(swallowed[0]!, /^line 4: text right after a table becomes one of its rows/);
    const extra = tableProblems(`${table}| \`a|b\` | 2 |\n`);
    assert.equal(extra.length, 1);
    assert.match(extra[0]!, /^line 4: 3 cells under a header of 2/);
  });

  const docs = [
    'README.md',
    'ARCHITECTURE.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  for (const file of docs) {
    it(`${file}: every table renders`, () => {
      assert.deepEqual(tableProblems(readFileSync(join(ROOT, file), 'utf8')), [], file);
    });
  }
});
