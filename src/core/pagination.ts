import { ArgsType, ClassType, Field, Int, ObjectType, registerEnumType } from "type-graphql";
import type { ObjectLiteral, SelectQueryBuilder } from "typeorm";
import { badUserInput } from "./errors";
import { getManyFast } from "../db/hydrate";

/** Relay cursor connections: `first/after` forward, `last/before` backward, keyset-paginated. */
export const MAX_PAGE_SIZE = 250;
export const DEFAULT_PAGE_SIZE = 50;

export enum SortDirection {
  ASC = "ASC",
  DESC = "DESC",
}
registerEnumType(SortDirection, { name: "SortDirection" });

@ArgsType()
export class ConnectionArgs {
  @Field(() => Int, { nullable: true, description: `Page size from the start (max ${MAX_PAGE_SIZE}).` })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => Int, { nullable: true, description: `Page size from the end (max ${MAX_PAGE_SIZE}).` })
  last?: number | null;

  @Field(() => String, { nullable: true })
  before?: string | null;
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean) hasNextPage: boolean;
  @Field(() => Boolean) hasPreviousPage: boolean;
  @Field(() => String, { nullable: true }) startCursor: string | null;
  @Field(() => String, { nullable: true }) endCursor: string | null;
}

/** One page as services return it; `count` (all pages) runs only when a client asks for `totalCount`. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  nodes: T[];
  pageInfo: PageInfo;
  count: () => Promise<number>;
}

/** Builds `XConnection` and `XEdge` types for a node type. */
export function ConnectionType<T extends object>(node: ClassType<T>, name: string) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String) cursor: string;
    @Field(() => node) node: T;
  }

  @ObjectType(`${name}Connection`)
  class ConnectionClass {
    @Field(() => [Edge]) edges: Edge[];
    @Field(() => [node], { description: "The nodes of `edges`, for clients that need no cursors." }) nodes: T[];
    @Field(() => PageInfo) pageInfo: PageInfo;
    count: () => Promise<number>;

    @Field(() => Int, { description: "How many nodes match the filter, on all pages. Counted only when asked for." })
    totalCount(): Promise<number> {
      return this.count();
    }
  }
  return ConnectionClass;
}

export interface KeysetOptions<T> {
  args: ConnectionArgs;
  /** SQL expression sorted on, e.g. `c.created_at`; ties are broken by `idColumn`. */
  sortColumn: string;
  idColumn: string;
  direction: SortDirection;
  /** The sort value of a row, as stored in the cursor. */
  sortValue(row: T): string;
  id(row: T): string;
}

type CursorValue = [string, string];

function encodeCursor(v: CursorValue): string {
  return Buffer.from(JSON.stringify(v), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string, arg: string): CursorValue {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "string")) return v as CursorValue;
  } catch {
    /* fall through */
  }
  throw badUserInput(`"${arg}" is not a cursor returned by this connection`, arg);
}

/** Validates page arguments: at most MAX_PAGE_SIZE, not negative, not first and last together. */
export function pageSize(args: ConnectionArgs): { size: number; backward: boolean } {
  if (args.first != null && args.last != null) throw badUserInput('Pass either "first" or "last", not both', "first");
  for (const key of ["first", "last"] as const) {
    const v = args[key];
    if (v != null && (v < 0 || v > MAX_PAGE_SIZE)) {
      throw badUserInput(`"${key}" must be between 0 and ${MAX_PAGE_SIZE}`, key);
    }
  }
  const backward = args.last != null || (args.before != null && args.first == null);
  return { size: (backward ? args.last : args.first) ?? DEFAULT_PAGE_SIZE, backward };
}

/**
 * Applies keyset pagination to `qb` (already filtered and tenant-scoped), fetches one page and
 * returns the connection. The count runs as a separate statement, only if `totalCount` is selected.
 */
export async function paginate<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>, opts: KeysetOptions<T>): Promise<Connection<T>> {
  const { size, backward } = pageSize(opts.args);
  const countQb = qb.clone();
  const asc = opts.direction === SortDirection.ASC;
  const row = `(${opts.sortColumn}, ${opts.idColumn})`;
  if (opts.args.after) {
    const [v, id] = decodeCursor(opts.args.after, "after");
    qb.andWhere(`${row} ${asc ? ">" : "<"} (:afterV, :afterId)`, { afterV: v, afterId: id });
  }
  if (opts.args.before) {
    const [v, id] = decodeCursor(opts.args.before, "before");
    qb.andWhere(`${row} ${asc ? "<" : ">"} (:beforeV, :beforeId)`, { beforeV: v, beforeId: id });
  }
  // Backward pages read in reverse order, then flip.
  const readAsc = asc !== backward;
  const dir = readAsc ? "ASC" : "DESC";
  qb.orderBy(opts.sortColumn, dir).addOrderBy(opts.idColumn, dir).limit(size + 1);
  const rows = size === 0 ? [] : await getManyFast(qb);
  return pageOf(rows, opts, () => countQb.getCount());
}

/**
 * The connection for rows read in page order with a limit of one more than the page size (the extra
 * row only tells that there is a next page) — for pages read without `paginate`, e.g. the first page
 * of many parents at once through a DataLoader. `count` runs only if `totalCount` is selected.
 */
export function pageOf<T>(
  rows: T[],
  opts: Pick<KeysetOptions<T>, "args" | "sortValue" | "id">,
  count: () => Promise<number>,
): Connection<T> {
  const { size, backward } = pageSize(opts.args);
  const hasMore = rows.length > size;
  const page = rows.slice(0, size);
  if (backward) page.reverse();
  const edges = page.map((node) => ({ node, cursor: encodeCursor([opts.sortValue(node), opts.id(node)]) }));
  // A plain page: services know no GraphQL types; the resolver's `ConnectionType(…)` class serves it
  // (type-graphql turns it into that class, whose `totalCount` calls `count` only when selected).
  return {
    edges,
    nodes: page,
    pageInfo: Object.assign(new PageInfo(), {
      hasNextPage: backward ? opts.args.before != null : hasMore,
      hasPreviousPage: backward ? hasMore : opts.args.after != null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    }),
    count,
  };
}
