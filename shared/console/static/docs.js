// The API reference: Swagger UI over the app's OpenAPI document, from the app's own copy of
// swagger-ui-dist (nothing fetched from the internet). "Try it out" requests carry
// X-Requested-With, as the console's do: the app refuses browser writes without it.
/* global SwaggerUIBundle */
"use strict";
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  requestInterceptor: (request) => {
    request.headers["X-Requested-With"] = "XMLHttpRequest";
    return request;
  },
});
