// The API's OpenAPI page, from the Swagger UI the package ships: requests carry the token given in "Authorize".
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
});
