#!/usr/bin/env node
/**
 * Checks the test citations of docs/security.md: every test name quoted there (“…”) must be
 * found in a test file cited before it (on the same line, or earlier in the same section).
 * Files may be cited by a repository path, by a path relative to a test folder
 * (`commands/attack.test.ts`) or by a bare file name (`syscalls.test.ts`), resolved against the
 * repository's test files. A name is looked up as a substring of the file's text with string
 * escapes (\' \" \`) removed, so `%s` and `${...}` match as written in the file.
 *
 * Usage: node scripts/check-security-citations.mjs [docs/security.md] [--branch=NAME ...]
 * --branch=NAME also accepts a file that exists only on that git branch (read with git show),
 * for sections whose code is merged later; such hits are reported as "on NAME".
 * Exit 1 when a name is found in no cited file.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const docPath = resolvePath(root, args.find((a) => !a.startsWith('--')) ?? 'docs/security.md');
const branches = args.filter((a) => a.startsWith('--branch=')).map((a) => a.slice('--branch='.length));

const FILE_RE = /`([\w./-]*\.test\.ts)`/g;
const NAME_RE = /“([^”]+)”/g;
const SKIP = new Set(['node_modules', '.git', 'dist', 'build']);

function walk(dir, out = []) {
  for (const entry of readdirSync(dir)) {
    if (SKIP.has(entry)) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (entry.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const localFiles = walk(join(root, 'packages'));
const branchFiles = new Map(); // path -> branch
for (const branch of branches) {
  const listed = execFileSync('git', ['ls-tree', '-r', '--name-only', branch, '--', 'packages'], {
    cwd: root,
    encoding: 'utf8',
  });
  for (const path of listed.split('\n')) {
    if (path.endsWith('.test.ts') && !localFiles.includes(path) && !branchFiles.has(path)) {
      branchFiles.set(path, branch);
    }
  }
}
const allFiles = [...localFiles, ...branchFiles.keys()];

const texts = new Map();
function textOf(path) {
  if (!texts.has(path)) {
    const raw = branchFiles.has(path)
      ? execFileSync('git', ['show', `${branchFiles.get(path)}:${path}`], { cwd: root, encoding: 'utf8' })
      : readFileSync(join(root, path), 'utf8');
    texts.set(path, raw.replace(/\\(['"`])/g, '$1'));
  }
  return texts.get(path);
}

/** The repository files a citation may mean: exact, or ending in /<cited>. */
function resolve(cited) {
  return allFiles.filter((f) => f === cited || f.endsWith(`/${cited}`));
}

const lines = readFileSync(docPath, 'utf8').split('\n');
let sectionFiles = [];
const problems = [];
let checked = 0;
lines.forEach((line, index) => {
  if (/^#{2,3} /.test(line)) sectionFiles = [];
  // A name is read within its line: one wrapped onto the next line would go unchecked.
  if ((line.match(/“/g) ?? []).length !== (line.match(/”/g) ?? []).length) {
    problems.push(`${index + 1}: a quoted test name is wrapped over two lines (keep each “…” on one line, or it is not checked)`);
  }
  const tokens = [];
  for (const m of line.matchAll(FILE_RE)) tokens.push({ at: m.index, file: m[1] });
  for (const m of line.matchAll(NAME_RE)) tokens.push({ at: m.index, name: m[1] });
  tokens.sort((a, b) => a.at - b.at);
  const lineFiles = [];
  for (const token of tokens) {
    if (token.file) {
      lineFiles.unshift(token.file);
      if (resolve(token.file).length === 0) problems.push(`${index + 1}: file \`${token.file}\` not found`);
      continue;
    }
    if (token.name.length < 4) continue;
    checked += 1;
    const candidates = [...lineFiles, ...sectionFiles].flatMap(resolve);
    const hit = candidates.find((f) => textOf(f).includes(token.name));
    if (hit) {
      if (branchFiles.has(hit)) {
        console.log(`${index + 1}: on ${branchFiles.get(hit)}: ${hit} “${token.name}”`);
      }
      continue;
    }
    const elsewhere = allFiles.filter((f) => textOf(f).includes(token.name));
    problems.push(
      `${index + 1}: “${token.name}”\n    cited: ${[...new Set([...lineFiles, ...sectionFiles])].slice(0, 4).join(', ') || '(none)'}\n    ` +
        (elsewhere.length > 0 ? `found in: ${elsewhere.join(', ')}` : 'found in no test file'),
    );
  }
  sectionFiles = [...lineFiles, ...sectionFiles];
});

for (const problem of problems) console.log(problem);
console.log(`${checked} names checked, ${problems.length} problems (a name not found in a cited file, a file not found, a name wrapped over two lines)`);
process.exitCode = problems.length > 0 ? 1 : 0;
