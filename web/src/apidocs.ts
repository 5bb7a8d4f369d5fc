// The interactive API reference at /api/docs: Swagger UI from the bundle (no CDN), over /api/openapi.json.
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import "swagger-ui-dist/swagger-ui.css";
import { loadConfig } from "./config";

loadConfig().then((config) => {
  SwaggerUIBundle({
    url: `${config.api_base_url}/api/openapi.json`,
    dom_id: "#swagger",
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: null, // never call the public validator: the reference works offline
  });
});
