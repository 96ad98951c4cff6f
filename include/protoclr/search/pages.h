#pragma once
/// Static HTML pages over a collection (search results, near-duplicate groups) that open from
/// disk with no server: images are linked by relative URLs from the page's folder.
#include <filesystem>
#include <string>
#include <vector>

#include "protoclr/search/dedupe.h"
#include "protoclr/search/index.h"

namespace protoclr::search {

/// `text` with &, <, >, " and ' escaped for HTML text and attribute values.
std::string html_escape(const std::string& text);

/// A relative URL from a page in `page_dir` to the file `target` (both made absolute first),
/// with every byte outside RFC 3986's unreserved set and '/' percent-encoded: names with
/// spaces, '#', '?' or '%' still load.
std::string file_url(const std::filesystem::path& target, const std::filesystem::path& page_dir);

/// The start of a page: doctype, title, the pages' one style sheet, and the title as <h1>.
std::string page_head(const std::string& title);

/// The end of a page. A small script counts, once the page has loaded, the images that did
/// not (body attributes data-images and data-images-failed, and a red line on the page when
/// any failed): what a browser test reads, and what tells a person a file moved.
std::string page_tail();

/// One image tile: `image_url` shown (escaped here), a link to `link_url` when not empty,
/// `caption` under it; css_class "query" frames it.
std::string figure_html(const std::string& image_url, const std::string& link_url, const std::string& alt,
                        const std::string& caption, const char* css_class = nullptr);

/// "0.947": a cosine or phi as the pages print it.
std::string score_text(float score);

/// One query and what the search returned for it.
struct QueryResult {
  std::string query;         ///< the file as given
  bool in_collection = false;
  std::vector<Neighbour> neighbours;
};

/// The search results page: each query beside its neighbours, with cosine scores.
void write_search_page(const std::filesystem::path& page, const CollectionIndex& index,
                       const std::vector<QueryResult>& results);

/// The near-duplicates page: each group side by side, with its weakest pair's cosine.
void write_duplicates_page(const std::filesystem::path& page, const CollectionIndex& index,
                           const std::vector<DuplicateGroup>& groups, const DedupeOptions& options);

}  // namespace protoclr::search
