/// One page of a keyset-paginated list: the items and whether more follow.
///
/// Why keyset (the last id seen) instead of OFFSET: rows inserted or deleted between two requests shift
/// every offset, so a client paging with OFFSET skips or repeats rows; a page that starts after an id
/// never does. Each store reads one row more than asked to know whether more follow.
public struct Page<Item: Sendable>: Sendable {
    /// The page's items, in the list's order.
    public var items: [Item]
    /// Whether rows follow the last item.
    public var hasMore: Bool

    /// The first `limit` of `rows` (read with `limit + 1`), and whether there were more.
    init(rows: [Item], limit: Int) {
        items = Array(rows.prefix(limit))
        hasMore = rows.count > limit
    }
}
