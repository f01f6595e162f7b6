module.exports = {
  debug: "false",
  awssecretaccesskey: "xZG2/T0JWVoU0u21laz01c6KB8Eprp9kJHIlXifL",
  loglevel: "info",
};
