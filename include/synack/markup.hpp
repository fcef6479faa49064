// Text inside XML (the SVG plots) or HTML (the HTTP server's directory pages): the five
// characters markup gives meaning to, as entity references.
#pragma once

#include <string>
#include <string_view>

namespace synack {

enum class Markup : unsigned char {
  kXml,   // ' as &apos;; control characters but tab, newline and CR (which XML 1.0 does not
          // allow) as spaces
  kHtml,  // ' as &#39; (HTML 4 has no &apos;); everything else as it is
};

inline void append_escaped(std::string& out, std::string_view text, Markup markup) {
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += markup == Markup::kXml ? "&apos;" : "&#39;";
        break;
      default:
        if (markup == Markup::kXml && static_cast<unsigned char>(c) < 0x20 && c != '\t' &&
            c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
}

}  // namespace synack
