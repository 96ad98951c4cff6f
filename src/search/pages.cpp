#include "protoclr/search/pages.h"

#include <cstdio>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::search {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStyle =
    "body{font-family:sans-serif;margin:1.5em;background:#fafafa;color:#222}"
    "section{margin-bottom:2em}h2{font-size:1.05em;margin:.4em 0}"
    ".row{display:flex;flex-wrap:wrap;gap:8px}"
    "figure{margin:0;padding:4px;background:#fff;border:1px solid #ddd;width:136px}"
    "figure.query{border:2px solid #3465a4}"
    "figure img{width:128px;height:128px;object-fit:contain;image-rendering:pixelated;display:block}"
    "figcaption{font-size:11px;overflow-wrap:anywhere;margin-top:3px}"
    "table{border-collapse:collapse}td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #e4e4e4}"
    ".strip{display:flex;gap:3px}.strip img{width:56px;height:56px;object-fit:contain;image-rendering:pixelated}"
    "nav{margin:.6em 0}nav a{margin-right:.8em}";

/// A collection file as a tile, linked from a page in `page_dir`.
std::string figure(const std::string& file, const fs::path& page_dir, const std::string& caption,
                   const char* css_class = nullptr) {
  return figure_html(file_url(file, page_dir), "", fs::path(file).filename().string(), caption, css_class);
}

fs::path absolute_dir(const fs::path& page) {
  std::error_code error;
  const fs::path absolute = fs::absolute(page, error);
  return (error ? page : absolute).parent_path();
}

}  // namespace

std::string page_head(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
         "</title><style>" + kStyle + "</style></head><body>\n<h1>" + html_escape(title) + "</h1>\n";
}

std::string page_tail() {
  return "<script>window.addEventListener('load',function(){var a=document.images,f=0;"
         "for(var i=0;i<a.length;i++)if(!a[i].complete||a[i].naturalWidth===0)f++;"
         "document.body.setAttribute('data-images',a.length);document.body.setAttribute('data-images-failed',f);"
         "if(f){var p=document.createElement('p');p.style.color='#c00';"
         "p.textContent=f+' of '+a.length+' images did not load (moved or deleted since this page was made?)';"
         "document.body.insertBefore(p,document.body.firstChild.nextSibling);}});</script>\n</body></html>\n";
}

std::string figure_html(const std::string& image_url, const std::string& link_url, const std::string& alt,
                        const std::string& caption, const char* css_class) {
  std::string img = "<img src=\"" + html_escape(image_url) + "\" alt=\"" + html_escape(alt) + "\">";
  if (!link_url.empty()) img = "<a href=\"" + html_escape(link_url) + "\">" + img + "</a>";
  return std::string("<figure") + (css_class ? std::string(" class=\"") + css_class + "\"" : "") + ">" + img +
         "<figcaption>" + html_escape(caption) + "</figcaption></figure>";
}

std::string score_text(float score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(score));
  return buf;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string file_url(const fs::path& target, const fs::path& page_dir) {
  std::error_code error;
  const fs::path from = fs::absolute(page_dir, error).lexically_normal();
  const fs::path to = fs::absolute(target, error).lexically_normal();
  fs::path relative = to.lexically_relative(from);
  if (relative.empty()) relative = to;
  std::string out;
  static const char* kHex = "0123456789ABCDEF";
  for (const unsigned char c : relative.generic_string()) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == '~' || c == '/';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void write_search_page(const fs::path& page, const CollectionIndex& index, const std::vector<QueryResult>& results) {
  const fs::path dir = absolute_dir(page);
  std::string html = page_head("protoclr search");
  for (const auto& result : results) {
    html += "<section><h2>" + html_escape(result.query) + (result.in_collection ? " (in the collection)" : "") +
            "</h2><div class=\"row\">" + figure(result.query, dir, "query", "query");
    for (size_t j = 0; j < result.neighbours.size(); ++j) {
      const auto& nb = result.neighbours[j];
      const std::string& file = index.files()[static_cast<size_t>(nb.row)].path;
      html += figure(file, dir, "#" + std::to_string(j + 1) + "  " + score_text(nb.score) + "  " +
                                    fs::path(file).filename().string());
    }
    html += "</div></section>\n";
  }
  html += page_tail();
  write_file_atomic(page, html);
}

void write_duplicates_page(const fs::path& page, const CollectionIndex& index, const std::vector<DuplicateGroup>& groups,
                           const DedupeOptions& options) {
  const fs::path dir = absolute_dir(page);
  std::string html = page_head("protoclr dedupe");
  int64_t images = 0;
  for (const auto& g : groups) images += static_cast<int64_t>(g.rows.size());
  html += "<p>" + std::to_string(groups.size()) + " groups of near-duplicates (" + std::to_string(images) +
          " images of " + std::to_string(index.size()) + ") at cosine &ge; " + score_text(options.threshold) + ".</p>\n";
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    html += "<section><h2>group " + std::to_string(i + 1) + ": " + std::to_string(g.rows.size()) +
            " images, weakest pair " + score_text(g.lowest) + "</h2><div class=\"row\">";
    for (const int64_t row : g.rows) {
      const std::string& file = index.files()[static_cast<size_t>(row)].path;
      html += figure(file, dir, fs::path(file).filename().string());
    }
    html += "</div></section>\n";
  }
  html += page_tail();
  write_file_atomic(page, html);
}

}  // namespace protoclr::search
