/**
 * Rules about the file rather than one statement: the linter raises them itself (a file that
 * does not parse, an allow comment that silences nothing, a DO block whose body it cannot read).
 */
import { bothPhases, defineRule } from '../rule.js'

export const doBlock = defineRule({
  meta: {
    id: 'do-block',
    severity: 'warning',
    phases: bothPhases,
    summary:
      'The linter checks the statements inside a DO block like any others, an EXECUTE of a constant string too (a literal, literals joined with ||, format() of literals), but it cannot follow an EXECUTE of a string computed at run time or a body it cannot read.',
    hint: 'write the statements as plain SQL (or EXECUTE constant strings), or review the block by hand and allow it with a reason',
    example: {
      unsafe:
        "DO $$ DECLARE tbl text := 'users'; BEGIN EXECUTE format('ALTER TABLE %I DROP COLUMN nickname', tbl); END $$;",
      safe: [
        'DO $$ BEGIN',
        "  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN",
        "    CREATE TYPE mood AS ENUM ('ok', 'meh');",
        '  END IF;',
        'END $$;',
      ].join('\n'),
    },
  },
  check: {},
})

export const badAllowComment = defineRule({
  meta: {
    id: 'bad-allow-comment',
    severity: 'warning',
    phases: bothPhases,
    summary:
      'A bluegreen:allow comment must name a known rule and give a reason; otherwise it silences nothing.',
    hint: 'write `-- bluegreen:allow RULE_ID why this is safe here` on the line directly above the statement',
    example: {
      unsafe: '-- bluegreen:allow drop-colum\nALTER TABLE users ADD COLUMN bio text;',
      safe: '-- bluegreen:allow drop-column the old version never reads it (checked in v41)\nALTER TABLE users DROP COLUMN nickname;',
    },
  },
  check: {},
})

export const syntaxError = defineRule({
  meta: {
    id: 'syntax-error',
    severity: 'error',
    phases: bothPhases,
    summary:
      'The file does not parse with PostgreSQL’s own grammar, so nothing in it can be checked (or applied).',
    hint: 'fix the SQL at the position given; the linter parses with PostgreSQL 17’s parser',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN bio text DEFALT 1;',
      safe: "ALTER TABLE users ADD COLUMN bio text DEFAULT '';",
    },
  },
  check: {},
})
