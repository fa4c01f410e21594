"""What every modality stands on; imports no modality package."""
